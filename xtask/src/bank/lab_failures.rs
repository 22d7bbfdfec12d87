//! Why a task's reference plan fails against the pfrest lab (`--target lab`): each is a gap of
//! the lab's stand-ins or a failure not diagnosed yet. (A task whose premise held only on the
//! emulator is rewritten, and the emulator fixed, rather than listed.) Measured on v2.7.1 with `--agent replay`; see crates/pfrest-lab.

/// Kind of a lab failure of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The lab cannot answer like a box: an OS reading, a daemon or an add-on package it lacks.
    LabGap,
    /// Seen failing, cause not established: to investigate. None at the moment: the last four
    /// (lost deletes, routing applies pending) were the first apply's background config write,
    /// now run at lab start, and a killed dispatcher's lock file that reset left behind.
    #[allow(dead_code)]
    Undiagnosed,
}

impl Class {
    pub fn label(self) -> &'static str {
        match self {
            Class::LabGap => "lab stand-in gap",
            Class::Undiagnosed => "not diagnosed",
        }
    }
}

/// (task id, class, why).
pub const LAB_TASK_FAILURES: &[(&str, Class, &str)] = &[
    (
        "acme-account-certificate",
        Class::LabGap,
        "ACMEAccountKey reads the ACME package's server list (a global the lab's package stand-in does not define): 500 array_keys(null)",
    ),
    (
        "interface-vlan",
        Class::LabGap,
        "the interface apply does not finish in the lab (pfrest's InterfaceApplyDispatcher reconfigures the NIC through FreeBSD's ifconfig and kernel, which are stood in): the new interface stays in `pending_interfaces`",
    ),
    (
        "status-services-down",
        Class::LabGap,
        "no daemons run in the lab: every service reads stopped, so stopping sshd changes nothing and `unbound` is the first one down",
    ),
];

/// The class and reason of a task that fails on the lab.
pub fn classify(task: &str) -> Option<(Class, &'static str)> {
    LAB_TASK_FAILURES
        .iter()
        .find(|(t, _, _)| *t == task)
        .map(|(_, class, why)| (*class, *why))
}
