//! [`Slots`]: the connections a gateway holds, counted in total and per client address, so
//! one client cannot take every file descriptor and a flood cannot take the host's.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
};

/// The caps a connection is checked against.
#[derive(Debug, Clone)]
pub(crate) struct Caps {
    pub total: usize,
    pub per_ip: usize,
    /// Addresses not counted per IP: trusted reverse proxies carry many clients.
    pub exempt: Vec<IpAddr>,
}

/// Which cap refused a connection (its metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    Total,
    PerIp,
}

impl Over {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Over::Total => "total",
            Over::PerIp => "per_ip",
        }
    }
}

/// The connections held now.
pub(crate) struct Slots {
    caps: Caps,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// One connection's place; given back when dropped.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    ip: Option<IpAddr>,
}

impl Slots {
    pub(crate) fn new(caps: Caps) -> Arc<Self> {
        Arc::new(Slots {
            caps,
            held: Mutex::new(Held::default()),
        })
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a connection from `ip`, or the cap it is over.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Over> {
        let mut held = self.held();
        if held.total >= self.caps.total {
            return Err(Over::Total);
        }
        let counted = !self.caps.exempt.contains(&ip);
        if counted {
            let from_ip = held.by_ip.entry(ip).or_insert(0);
            if *from_ip >= self.caps.per_ip {
                return Err(Over::PerIp);
            }
            *from_ip += 1;
        }
        held.total += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            ip: counted.then_some(ip),
        })
    }

    /// Connections held now.
    #[cfg(test)]
    fn total(&self) -> usize {
        self.held().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held();
        held.total = held.total.saturating_sub(1);
        if let Some(ip) = self.ip {
            if let Some(count) = held.by_ip.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    // An address that left takes no memory.
                    held.by_ip.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn one_address_gets_its_share_and_others_still_get_in() {
        let slots = Slots::new(Caps {
            total: 5,
            per_ip: 2,
            exempt: vec![],
        });
        let a1 = slots.take(ip(1)).unwrap();
        let _a2 = slots.take(ip(1)).unwrap();
        assert_eq!(slots.take(ip(1)).err(), Some(Over::PerIp));
        let _b = slots.take(ip(2)).unwrap();
        drop(a1);
        let _a3 = slots.take(ip(1)).unwrap();
        assert_eq!(slots.total(), 3);
    }

    #[test]
    fn the_total_cap_holds_and_places_come_back() {
        let slots = Slots::new(Caps {
            total: 2,
            per_ip: 10,
            exempt: vec![],
        });
        let held: Vec<Slot> = (1..=2).map(|i| slots.take(ip(i)).unwrap()).collect();
        assert_eq!(slots.take(ip(3)).err(), Some(Over::Total));
        drop(held);
        assert_eq!(slots.total(), 0);
        assert!(
            slots.held().by_ip.is_empty(),
            "addresses that left are forgotten"
        );
        assert!(slots.take(ip(3)).is_ok());
    }

    #[test]
    fn a_trusted_proxy_is_not_counted_per_address() {
        let proxy = IpAddr::from([127, 0, 0, 1]);
        let slots = Slots::new(Caps {
            total: 100,
            per_ip: 1,
            exempt: vec![proxy],
        });
        let held: Vec<Slot> = (0..10).map(|_| slots.take(proxy).unwrap()).collect();
        assert_eq!(held.len(), 10);
        assert_eq!(slots.take(ip(1)).map(|_| ()), Ok(()));
    }
}
