//! Prometheus metrics of the relay: one registry holding libp2p's bandwidth counters (bytes in
//! and out per protocol stack, which on a relay is nearly all relayed traffic) and ours.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Counters and gauges updated by the event loop and the access list. Cloning shares them.
#[derive(Clone, Default)]
pub struct RelayMetrics {
    pub reservations_accepted: Counter,
    pub reservations_renewed: Counter,
    pub reservations_denied: Counter,
    pub reservations_denied_by_access_list: Counter,
    pub reservations_active: Gauge,
    pub circuits_accepted: Counter,
    pub circuits_denied: Counter,
    pub circuits_denied_by_access_list: Counter,
    pub circuits_closed: Counter,
    pub circuits_active: Gauge,
    pub connections_established: Counter,
    pub connections_active: Gauge,
    pub directory_registrations: Counter,
    pub directory_discoveries: Counter,
}

impl RelayMetrics {
    /// Registers every metric under the `agenthost_relay_` prefix.
    pub fn register(&self, registry: &mut Registry) {
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
pub fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    Ok(text)
}
