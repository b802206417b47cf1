"""Technology-node scaling factors for area and energy (Stillmaker & Baas 2017).

Source: A. Stillmaker and B. Baas, "Scaling equations for the accurate prediction of CMOS device
performance from 180 nm to 7 nm", Integration, the VLSI Journal 58 (2017) 74-81. We use the
numbers as transcribed in Accelergy's ``hwcomponents`` (``hwcomponents/scaling/techscaling.py``,
which cites that paper); the paper's own tables were not available to us, so each value below is
"unconfirmed against the PDF".

Rules (all other factors follow from these, so scaling is transitive by construction):

* **Area.** Only the paper's 45nm row is used: the area of a circuit at node ``n`` is its 45nm
  area times ``AREA_FROM_45NM[n]`` (45nm 1, 32nm 0.46, 20nm 0.21, 16nm 0.19, 14nm 0.17,
  10nm 0.1, 7nm 0.059). A node between two tabulated nodes (28nm, 40nm) takes the value
  interpolated linearly in feature size between its neighbours (the interpolation hwcomponents
  uses): 28nm = 2/3 x 0.46 + 1/3 x 0.21 = 0.3767; 40nm = 8/13 x 1 + 5/13 x 0.46 = 0.7923.
  From node ``a`` to node ``b`` the factor is ``AREA_FROM_45NM[b] / AREA_FROM_45NM[a]``.
* **Energy.** The paper fits energy per operation at node ``n`` as a quadratic in the supply
  voltage, ``E_n(V) = a V^2 + b V + c``; the factor from ``a`` to ``b`` at supply ``V`` is
  ``E_b(V) / E_a(V)``, with untabulated nodes interpolated in feature size as for area.
"""

from __future__ import annotations

STILLMAKER = (
    "Stillmaker & Baas, Integration VLSI J. 58 (2017), as transcribed in Accelergy hwcomponents "
    "scaling/techscaling.py (paper table unconfirmed)"
)

# Area of a 45nm circuit at each tabulated node, relative to 45nm (the paper's 45nm row).
AREA_FROM_45NM: dict[int, float] = {
    130: 6.4,
    90: 2.8,
    65: 1.5,
    45: 1.0,
    32: 0.46,
    20: 0.21,
    16: 0.19,
    14: 0.17,
    10: 0.1,
    7: 0.059,
}

# Energy-per-operation polynomial coefficients (a, b, c) of E(V) = a V^2 + b V + c.
ENERGY_POLY: dict[int, tuple[float, float, float]] = {
    130: (7.171, -6.709, 2.904),
    90: (4.762, -4.781, 2.092),
    65: (3.755, -4.398, 1.975),
    45: (1.103, -0.362, 0.2767),
    32: (0.9559, -0.7823, 0.471),
    20: (0.373, -0.1582, 0.04104),
    16: (0.2958, -0.1241, 0.03024),
    14: (0.2363, -0.09675, 0.02239),
    10: (0.2068, -0.09311, 0.02375),
    7: (0.1776, -0.09097, 0.02447),
}


def node_nm(node: str) -> int:
    """Feature size in nm of a node name such as ``"28nm"``."""
    if not node.endswith("nm") or not node[:-2].isdigit():
        raise KeyError(node)
    return int(node[:-2])


def _interpolated(table: dict[int, float], nm: int) -> float:
    """``table`` at ``nm``, linear in feature size between the two tabulated neighbours."""
    if nm in table:
        return table[nm]
    larger = [n for n in table if n > nm]
    smaller = [n for n in table if n < nm]
    if not larger or not smaller:
        raise KeyError(f"{nm}nm is outside the scaling table ({min(table)}-{max(table)}nm)")
    hi, lo = min(larger), max(smaller)
    t = (nm - lo) / (hi - lo)  # weight of the larger node
    return t * table[hi] + (1.0 - t) * table[lo]


def area_from_45nm(node: str) -> float:
    """Area at ``node`` of a circuit of unit area at 45nm."""
    return _interpolated(AREA_FROM_45NM, node_nm(node))


def area_factor(from_node: str, to_node: str) -> float:
    """Multiply an area at ``from_node`` by this to get it at ``to_node``."""
    return area_from_45nm(to_node) / area_from_45nm(from_node)


def energy_poly_value(node: str, vdd: float) -> float:
    """The fitted energy-per-operation value ``E_node(vdd)`` (arbitrary units)."""
    values = {n: a * vdd * vdd + b * vdd + c for n, (a, b, c) in ENERGY_POLY.items()}
    return _interpolated(values, node_nm(node))


def energy_factor(from_node: str, to_node: str, vdd: float = 0.9) -> float:
    """Multiply an energy at ``from_node`` by this to get it at ``to_node`` (same supply)."""
    return energy_poly_value(to_node, vdd) / energy_poly_value(from_node, vdd)
