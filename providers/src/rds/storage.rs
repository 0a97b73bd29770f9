//! Storage as panka manages it: gp3's baseline IOPS (what AWS gives without asking, and
//! refuses to be asked for) and storage autoscaling, whose live size is "as asked"
//! anywhere in its range.

use panka_core::model::RdsSpec;
use serde::Serialize;

/// gp3 volumes below this size get a fixed baseline of IOPS that cannot be changed.
const GP3_BASELINE_LIMIT_GB: u32 = 400;

/// The IOPS AWS gives a volume without asking: gp3's baseline.
pub(super) fn baseline_iops(storage_type: &str, allocated_gb: u32) -> Option<u32> {
    match storage_type {
        "gp3" if allocated_gb < GP3_BASELINE_LIMIT_GB => Some(3000),
        "gp3" => Some(12000),
        _ => None,
    }
}

/// IOPS as AWS reports them: what was asked for, else the baseline.
pub(super) fn effective_iops(
    storage_type: &str,
    allocated_gb: u32,
    iops: Option<u32>,
) -> Option<u32> {
    iops.or_else(|| baseline_iops(storage_type, allocated_gb))
}

/// The IOPS to ask for: none when the spec asks for the baseline, which AWS refuses to
/// be asked for explicitly on small gp3 volumes.
pub(super) fn requested_iops(
    storage_type: &str,
    allocated_gb: u32,
    iops: Option<u32>,
) -> Option<u32> {
    iops.filter(|&i| Some(i) != baseline_iops(storage_type, allocated_gb))
}

/// Storage autoscaling's limit; a limit equal to the allocation is autoscaling off,
/// which is how the API switches it off.
pub(super) fn autoscaling_limit(max_allocated_gb: Option<u32>, allocated_gb: u32) -> Option<u32> {
    max_allocated_gb.filter(|&max| max > allocated_gb)
}

/// The floor to record for `spec`: its `allocatedGB` when storage autoscaling is on.
pub(super) fn autoscaling_floor(spec: &RdsSpec) -> Option<u32> {
    autoscaling_limit(spec.max_allocated_gb, spec.allocated_gb).map(|_| spec.allocated_gb)
}

pub(super) fn gb(value: Option<i32>) -> u32 {
    value.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

pub(super) fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Allocated storage as panka manages it.
///
/// With storage autoscaling RDS grows the volume by itself, from the spec's `allocatedGB`
/// up to `maxAllocatedGB`; any live size in that range is what the spec asks for, so both
/// sides normalise to the range (`"20-100 (autoscaled)"`, one leaf in the plan's diff). A
/// live size outside it, or without autoscaling, is the plain number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Allocated {
    /// The size asked for (desired) or the live size (read).
    pub(super) gb: u32,
    /// `(floor, limit)` while autoscaling covers `gb`.
    pub(super) autoscaled: Option<(u32, u32)>,
}

impl Allocated {
    pub(super) fn wanted(allocated_gb: u32, max_allocated_gb: Option<u32>) -> Self {
        Allocated {
            gb: allocated_gb,
            autoscaled: autoscaling_limit(max_allocated_gb, allocated_gb)
                .map(|max| (allocated_gb, max)),
        }
    }

    /// The live size `gb` against the limit RDS reports and the floor the last apply
    /// asked for (the live size itself when unknown).
    pub(super) fn live(gb: u32, max_allocated_gb: Option<u32>, floor: Option<u32>) -> Self {
        let floor = floor.unwrap_or(gb);
        let autoscaled = autoscaling_limit(max_allocated_gb, floor)
            .filter(|&max| (floor..=max).contains(&gb))
            .map(|max| (floor, max));
        Allocated { gb, autoscaled }
    }

    /// The size to ask RDS for to reach `desired` from `self`, if any. Under autoscaling
    /// only a live size below the wanted floor needs one: above it, RDS grew the volume,
    /// and storage never shrinks.
    pub(super) fn change_to(&self, desired: &Allocated) -> Option<u32> {
        let needed = match desired.autoscaled {
            Some(_) => self.gb < desired.gb,
            None => self.gb != desired.gb,
        };
        needed.then_some(desired.gb)
    }
}

impl Serialize for Allocated {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.autoscaled {
            Some((floor, max)) => serializer.serialize_str(&format!("{floor}-{max} (autoscaled)")),
            None => serializer.serialize_u32(self.gb),
        }
    }
}
