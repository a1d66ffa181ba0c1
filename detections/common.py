"""What convert.py and evaluate.py share: loading the rules and the ECS pipeline."""

from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.processing.pipeline import ProcessingPipeline

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules"
PIPELINE = HERE / "pipelines" / "esign-ecs.yml"


def rule_files():
    """Every rule file, sorted: one detection each (a base rule, or base rules and the
    correlation over them)."""
    return sorted(RULES.glob("*.yml"))


def documents(path):
    """The YAML documents of one rule file."""
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def collection(docs):
    """A fresh collection (pipelines mutate rules, so each conversion gets its own)."""
    return SigmaCollection.from_dicts(docs)


def pipeline():
    return ProcessingPipeline.from_yaml(PIPELINE.read_text(encoding="utf-8"))


def is_correlation(doc):
    return "correlation" in doc
