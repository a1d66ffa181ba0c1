#!/usr/bin/env node
// Regenerates tests/fixtures/ecs-<version>.json, the trimmed ECS field reference the format
// tests validate against (not run by CI): the fields of the field sets the ECS mapping uses
// (types, whether they are arrays), the allowed event.kind/category/type/outcome values and the
// event.type values ECS expects with each event.category.
//
// Usage: (cd "$(mktemp -d)" && npm install @elastic/ecs@9.4.0 && node <repo>/scripts/ecs-fixture.js "$PWD")
'use strict';
const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/ecs-fixture.js <directory where @elastic/ecs is installed>');
  process.exit(2);
}
const { EcsFlat, EcsVersion } = require(path.join(path.resolve(dir), 'node_modules', '@elastic', 'ecs'));

// Field-name prefixes the mapping may write; the nested entity/risk sub-objects are left out.
const PREFIXES = [
  '@timestamp', 'ecs.', 'message', 'tags', 'labels', 'event.', 'user.', 'group.', 'source.ip',
  'source.address', 'source.geo.', 'user_agent.', 'organization.', 'cloud.account.', 'cloud.provider',
  'cloud.service.', 'related.', 'rule.',
];
const SKIP = ['.entity.', '.risk.', '.hash'];

const fields = {};
for (const [name, f] of Object.entries(EcsFlat)) {
  if (!PREFIXES.some((p) => name === p || name.startsWith(p))) continue;
  if (SKIP.some((s) => name.includes(s))) continue;
  fields[name] = { type: f.type, array: (f.normalize || []).includes('array') };
}
const allowed = (name) => EcsFlat[name].allowed_values.map((v) => v.name);
const expected = {};
for (const v of EcsFlat['event.category'].allowed_values) expected[v.name] = v.expected_event_types || [];

const out = {
  version: EcsVersion,
  allowed: {
    'event.kind': allowed('event.kind'),
    'event.category': allowed('event.category'),
    'event.type': allowed('event.type'),
    'event.outcome': allowed('event.outcome'),
  },
  expected_event_types: expected,
  fields: Object.fromEntries(Object.entries(fields).sort(([a], [b]) => a.localeCompare(b))),
};
const file = path.join(__dirname, '..', 'tests', 'fixtures', `ecs-${EcsVersion}.json`);
fs.writeFileSync(file, JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${Object.keys(fields).length} fields to ${file}`);
