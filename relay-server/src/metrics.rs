//! Prometheus metrics of the relay: one registry holding libp2p's bandwidth counters (bytes in
//! and out per protocol stack, which on a relay is nearly all relayed traffic) and ours.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Counters and gauges updated by the event loop and the access list. Cloning shares them.
#[derive(Clone, Default)]
pub(crate) struct RelayMetrics {
    /// New reservations accepted (renewals not included).
    pub reservations_accepted: Counter,
    /// Renewals of existing reservations accepted.
    pub reservations_renewed: Counter,
    /// Reservation requests denied, by the limits or the access list.
    pub reservations_denied: Counter,
    /// Reservation requests refused by the access list (also in `reservations_denied`).
    pub reservations_denied_by_access_list: Counter,
    /// Reservations held now.
    pub reservations_active: Gauge,
    /// Circuit requests accepted.
    pub circuits_accepted: Counter,
    /// Circuit requests denied: limits, access list or no reservation at the destination.
    pub circuits_denied: Counter,
    /// Circuit requests refused by the access list (also in `circuits_denied`).
    pub circuits_denied_by_access_list: Counter,
    /// Circuits closed, each counted once.
    pub circuits_closed: Counter,
    /// Circuits open now.
    pub circuits_active: Gauge,
    /// Connections established since start.
    pub connections_established: Counter,
    /// Connections open now.
    pub connections_active: Gauge,
    /// Directory registrations accepted.
    pub directory_registrations: Counter,
    /// Directory discover requests served.
    pub directory_discoveries: Counter,
}

impl RelayMetrics {
    /// Registers every metric under the `agenthost_relay_` prefix.
    pub(crate) fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("agenthost_relay");
        let counters = [
            (
                "reservations_accepted",
                "New reservations accepted",
                &self.reservations_accepted,
            ),
            (
                "reservations_renewed",
                "Reservations renewed",
                &self.reservations_renewed,
            ),
            (
                "reservations_denied",
                "Reservation requests denied (limits or access list)",
                &self.reservations_denied,
            ),
            (
                "reservations_denied_by_access_list",
                "Reservation requests refused by the access list",
                &self.reservations_denied_by_access_list,
            ),
            (
                "circuits_accepted",
                "Circuits accepted",
                &self.circuits_accepted,
            ),
            (
                "circuits_denied",
                "Circuit requests denied (limits, access list or no reservation)",
                &self.circuits_denied,
            ),
            (
                "circuits_denied_by_access_list",
                "Circuit requests refused by the access list",
                &self.circuits_denied_by_access_list,
            ),
            ("circuits_closed", "Circuits closed", &self.circuits_closed),
            (
                "connections_established",
                "Connections established",
                &self.connections_established,
            ),
            (
                "directory_registrations",
                "Directory registrations accepted",
                &self.directory_registrations,
            ),
            (
                "directory_discoveries",
                "Directory discover requests served",
                &self.directory_discoveries,
            ),
        ];
        for (name, help, counter) in counters {
            sub.register(name, help, counter.clone());
        }
        let gauges = [
            (
                "reservations_active",
                "Reservations held now",
                &self.reservations_active,
            ),
            (
                "circuits_active",
                "Circuits open now",
                &self.circuits_active,
            ),
            (
                "connections_active",
                "Connections open now",
                &self.connections_active,
            ),
        ];
        for (name, help, gauge) in gauges {
            sub.register(name, help, gauge.clone());
        }
    }
}

/// Renders the registry in the OpenMetrics text format.
pub(crate) fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    Ok(text)
}
