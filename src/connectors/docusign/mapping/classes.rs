//! The OCSF 1.4.0 classes this crate emits: ids and captions (the tests check them against the
//! schema's own captions), and severity scales shared by both formats.

/// An OCSF class: ids and captions of OCSF 1.4.0 (checked against the schema in the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OcsfClass {
    pub(crate) uid: u32,
    pub(crate) name: &'static str,
    pub(crate) category_uid: u32,
    pub(crate) category_name: &'static str,
    /// `(activity_id, caption)` pairs this mapping may write.
    activities: &'static [(u8, &'static str)],
}

impl OcsfClass {
    /// The caption of `activity_id` in this class.
    pub(crate) fn activity_caption(self, activity_id: u8) -> &'static str {
        self.activities.iter().find(|(id, _)| *id == activity_id).map_or("Other", |(_, c)| *c)
    }
}

const IAM: &str = "Identity & Access Management";
pub(crate) const ACCOUNT_CHANGE: OcsfClass = OcsfClass {
    uid: 3001,
    name: "Account Change",
    category_uid: 3,
    category_name: IAM,
    activities: &[
        (0, "Unknown"),
        (1, "Create"),
        (2, "Enable"),
        (3, "Password Change"),
        (4, "Password Reset"),
        (5, "Disable"),
        (6, "Delete"),
        (9, "Lock"),
        (10, "MFA Factor Enable"),
        (11, "MFA Factor Disable"),
        (12, "Unlock"),
        (99, "Other"),
    ],
};
pub(crate) const AUTHENTICATION: OcsfClass = OcsfClass {
    uid: 3002,
    name: "Authentication",
    category_uid: 3,
    category_name: IAM,
    activities: &[(0, "Unknown"), (1, "Logon"), (2, "Logoff"), (99, "Other")],
};
pub(crate) const ENTITY_MANAGEMENT: OcsfClass = OcsfClass {
    uid: 3004,
    name: "Entity Management",
    category_uid: 3,
    category_name: IAM,
    activities: &[
        (0, "Unknown"),
        (1, "Create"),
        (2, "Read"),
        (3, "Update"),
        (4, "Delete"),
        (8, "Enable"),
        (9, "Disable"),
        (10, "Activate"),
        (11, "Deactivate"),
        (99, "Other"),
    ],
};
pub(crate) const USER_ACCESS: OcsfClass = OcsfClass {
    uid: 3005,
    name: "User Access Management",
    category_uid: 3,
    category_name: IAM,
    activities: &[(0, "Unknown"), (1, "Assign Privileges"), (2, "Revoke Privileges"), (99, "Other")],
};
pub(crate) const GROUP_MANAGEMENT: OcsfClass = OcsfClass {
    uid: 3006,
    name: "Group Management",
    category_uid: 3,
    category_name: IAM,
    activities: &[
        (0, "Unknown"),
        (1, "Assign Privileges"),
        (2, "Revoke Privileges"),
        (3, "Add User"),
        (4, "Remove User"),
        (5, "Delete"),
        (6, "Create"),
        (99, "Other"),
    ],
};
pub(crate) const API_ACTIVITY: OcsfClass = OcsfClass {
    uid: 6003,
    name: "API Activity",
    category_uid: 6,
    category_name: "Application Activity",
    activities: &[(0, "Unknown"), (1, "Create"), (2, "Read"), (3, "Update"), (4, "Delete"), (99, "Other")],
};
pub(crate) const DETECTION_FINDING: OcsfClass = OcsfClass {
    uid: 2004,
    name: "Detection Finding",
    category_uid: 2,
    category_name: "Findings",
    activities: &[(0, "Unknown"), (1, "Create"), (2, "Update"), (3, "Close"), (99, "Other")],
};
pub(crate) const USER_INVENTORY: OcsfClass = OcsfClass {
    uid: 5003,
    name: "User Inventory Info",
    category_uid: 5,
    category_name: "Discovery",
    activities: &[(0, "Unknown"), (1, "Log"), (2, "Collect"), (99, "Other")],
};

/// OCSF severity of a Monitor alert's `data.Severity`: (`severity_id`, caption).
pub(crate) fn alert_severity(s: &str) -> (u8, &str) {
    const LEVELS: &[(&str, u8, &str)] = &[
        ("informational", 1, "Informational"),
        ("info", 1, "Informational"),
        ("low", 2, "Low"),
        ("medium", 3, "Medium"),
        ("high", 4, "High"),
        ("critical", 5, "Critical"),
    ];
    match LEVELS.iter().find(|(k, _, _)| s.eq_ignore_ascii_case(k)) {
        Some((_, id, caption)) => (*id, caption),
        None if s.is_empty() => (0, "Unknown"),
        None => (99, s),
    }
}

/// ECS `event.severity` for an OCSF severity id (the 21/47/73/99 scale of Elastic's rules).
pub(crate) fn ecs_severity(severity_id: u8) -> Option<i64> {
    match severity_id {
        1 | 2 => Some(21),
        3 => Some(47),
        4 => Some(73),
        5 => Some(99),
        _ => None,
    }
}
