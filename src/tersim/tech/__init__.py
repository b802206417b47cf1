"""Energy tables per technology node; every number carries its source."""

from tersim.tech.tables import EnergyTable, Sourced, energy_table, known_nodes

__all__ = ["EnergyTable", "Sourced", "energy_table", "known_nodes"]
