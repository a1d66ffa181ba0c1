//! The OCSF 1.4.0 classes the Yousign mappings emit: ids and captions (the tests check them
//! against the schema's own captions).

/// An OCSF class and the activities this mapping may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::connectors::yousign) struct OcsfClass {
    pub(super) uid: u32,
    pub(super) name: &'static str,
    pub(super) category_uid: u32,
    pub(super) category_name: &'static str,
    /// `(activity_id, caption)` pairs.
    activities: &'static [(u8, &'static str)],
}

impl OcsfClass {
    /// The caption of `activity_id` in this class ("Other" for one it does not list).
    pub(super) fn activity_caption(self, activity_id: u8) -> &'static str {
        self.activities.iter().find(|(id, _)| *id == activity_id).map_or("Other", |(_, c)| *c)
    }
}

const IAM: &str = "Identity & Access Management";

/// A signature request's lifecycle (the request is the managed entity).
pub(in crate::connectors::yousign) const ENTITY_MANAGEMENT: OcsfClass = OcsfClass {
    uid: 3004,
    name: "Entity Management",
    category_uid: 3,
    category_name: IAM,
    activities: &[(1, "Create"), (2, "Read"), (3, "Update"), (4, "Delete"), (10, "Activate"), (99, "Other")],
};

/// A signer's failed or blocked identification.
pub(super) const AUTHENTICATION: OcsfClass = OcsfClass {
    uid: 3002,
    name: "Authentication",
    category_uid: 3,
    category_name: IAM,
    activities: &[(1, "Logon"), (99, "Other")],
};

/// A user's activation, deactivation or other change.
pub(in crate::connectors::yousign) const ACCOUNT_CHANGE: OcsfClass = OcsfClass {
    uid: 3001,
    name: "Account Change",
    category_uid: 3,
    category_name: IAM,
    activities: &[(2, "Enable"), (5, "Disable"), (99, "Other")],
};

/// A user's role raised or lowered.
pub(in crate::connectors::yousign) const USER_ACCESS: OcsfClass = OcsfClass {
    uid: 3005,
    name: "User Access Management",
    category_uid: 3,
    category_name: IAM,
    activities: &[(1, "Assign Privileges"), (2, "Revoke Privileges"), (99, "Other")],
};

/// A user record's state.
pub(in crate::connectors::yousign) const USER_INVENTORY: OcsfClass = OcsfClass {
    uid: 5003,
    name: "User Inventory Info",
    category_uid: 5,
    category_name: "Discovery",
    activities: &[(2, "Collect"), (99, "Other")],
};
