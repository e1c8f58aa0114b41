"""The bundled open hand model: a right hand built by this project's own code, in MANO's layout and sizes.

It is the embedded default wherever MANO would be used (the official MANO file is licence-restricted). Same
conventions as MANO: metres; fingers point along −x from the wrist, the palm faces −y, the thumb sits at +z;
joint rotations are axis-angle in the rest frame, so a finger bends (flexes) about +z, spreads about y and twists
about x — the axes of the joint-angle limits of E_J (FACTS §3).

Construction: the surface is a set of vertex rings — a palm tube from the wrist (the one open boundary, 16 edges)
to the knuckle line, where four finger tubes start and three webs close the gaps; the thumb tube grows out of a
hole in the palm's radial side. Rings are bridged into triangles, so the topology is a disk:
V − E + F = 1 ⇒ F = 2(V − 9) = 1538 for V = 778. Skinning weights follow each ring's position along its bone chain,
the joint regressor averages the ring at each joint, the shape space is ten named geometric deformations
(finite differences of the generator), posedirs add a knuckle bulge, and the pose PCA comes from a seeded synergy
model of plausible poses within the E_J limits.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import nnls

from s2hand.hand.joints import MANO_PARENTS
from s2hand.hand.meshing import bridge_loops, fan, orient_consistently, quad_band, signed_volume

NUM_VERTICES = 778
NUM_FACES = 1538
CM = 0.01

# Palm rings from the wrist (v = 0) to the knuckles (v = 1). The wrist ring is the 16-edge open boundary.
PALM_RING_SIZES = (16, 24, 29, 32, 32, 32, 32, 32, 32, 32)
KNUCKLE_RING = len(PALM_RING_SIZES) - 1
FINGER_RING_SIZE = 10
TIP_RING_SIZE = 6
# The thumb tube starts from a hole in the palm band between these rings, over these ring indices.
THUMB_HOLE_RINGS = (3, 4)
THUMB_HOLE_INDICES = (15, 16, 17, 18)

# ring positions along each segment (fractions), the last of a segment lying on the next joint
SEGMENT_RING_FRACTIONS = ((0.3, 0.65, 1.0), (0.35, 0.7, 1.0), (0.3, 0.6, 0.8))
TIP_RING_FRACTION = 0.93


@dataclass(frozen=True)
class FingerSpec:
    """One finger in the flat rest pose (cm, degrees)."""

    name: str
    joints: tuple[int, int, int]  # MANO ids of MCP, PIP, DIP
    knuckle_z: float  # centre across the palm (thumb side +z)
    mcp_x: float  # MCP position along the hand (fingers point along −x)
    lengths: tuple[float, float, float]  # MCP→PIP, PIP→DIP, DIP→tip
    radius: float  # half-width at the base
    splay_deg: float  # rest direction, rotated toward +z by this angle


@dataclass(frozen=True)
class HandShape:
    """Generator parameters; the ten shape components are finite differences of these (see SHAPE_COMPONENTS)."""

    size: float = 1.0
    finger_length: float = 1.0
    palm_width: float = 1.0
    finger_thickness: float = 1.0
    palm_length: float = 1.0
    thumb_length: float = 1.0
    palm_thickness: float = 1.0
    index_ring_ratio: float = 0.0
    pinky_length: float = 1.0
    flesh: float = 1.0


# (field, one standard deviation): β_k = 1 moves the field by its σ.
SHAPE_COMPONENTS = (
    ("size", 0.06),
    ("finger_length", 0.06),
    ("palm_width", 0.06),
    ("finger_thickness", 0.10),
    ("palm_length", 0.05),
    ("thumb_length", 0.07),
    ("palm_thickness", 0.10),
    ("index_ring_ratio", 0.04),
    ("pinky_length", 0.07),
    ("flesh", 0.08),
)

# Middle MCP→PIP is 2.82 cm, the bone length E_s pulls toward (FACTS §3).
FINGERS = (
    FingerSpec("pinky", (7, 8, 9), -2.55, 0.95, (2.15, 1.55, 1.75), 0.70, -9.0),
    FingerSpec("ring", (10, 11, 12), -0.85, 0.25, (2.65, 2.05, 1.95), 0.80, -3.5),
    FingerSpec("middle", (4, 5, 6), 0.85, 0.0, (2.82, 2.20, 2.05), 0.85, 0.0),
    FingerSpec("index", (1, 2, 3), 2.55, 0.20, (2.60, 1.95, 1.90), 0.84, 4.0),
)
THUMB_JOINTS = (13, 14, 15)
FINGERTIP_NAMES = ("thumb", "index", "middle", "ring", "pinky")


@dataclass
class _Builder:
    """Accumulates vertices, faces and per-vertex bookkeeping while the hand is assembled."""

    vertices: list[np.ndarray] = field(default_factory=list)
    faces: list[tuple[int, int, int]] = field(default_factory=list)
    # per vertex: dict joint -> weight
    skin: list[dict[int, float]] = field(default_factory=list)

    def add_ring(self, points: np.ndarray, weights: list[dict[int, float]]) -> list[int]:
        start = len(self.vertices)
        self.vertices.extend(points)
        self.skin.extend(weights)
        return list(range(start, start + len(points)))


def _smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _segment_weights(s: float, boundaries: list[float], joints: list[int], half_widths: list[float]) -> dict[int, float]:
    """Linear-blend weights of a point at arc position s on a chain: joints[k] drives the part after boundary
    k − 1; each boundary blends over ±half_width."""
    t = [float(np.clip((s - b + h) / (2 * h), 0.0, 1.0)) for b, h in zip(boundaries, half_widths)]
    t = [1.0] + t + [0.0]
    weights = {}
    for k, joint in enumerate(joints):
        w = t[k] - t[k + 1]
        if w > 1e-9:
            weights[joint] = weights.get(joint, 0.0) + w
    return weights


def _frame(direction: np.ndarray, up_hint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(side, up) perpendicular to direction; for a finger along −x with up +y, side is +z."""
    up = up_hint - np.dot(up_hint, direction) * direction
    up /= np.linalg.norm(up)
    side = np.cross(up, direction)
    return side, up


def _ring(centre, direction, up_hint, radius_side, radius_up, n, phase_deg=None) -> np.ndarray:
    side, up = _frame(direction, up_hint)
    phase = 180.0 - 180.0 / n if phase_deg is None else phase_deg
    phi = np.deg2rad(phase - 360.0 * np.arange(n) / n)  # clockwise in (side, up), like the palm rings
    return centre + radius_side * np.cos(phi)[:, None] * side + radius_up * np.sin(phi)[:, None] * up


def _finger_direction(splay_deg: float) -> np.ndarray:
    a = np.deg2rad(splay_deg)
    return np.array([-np.cos(a), 0.0, np.sin(a)])


@dataclass(frozen=True)
class _Palm:
    """Cross-section of the palm at v ∈ [0, 1] (wrist → knuckles), in cm."""

    shape: HandShape

    @property
    def wrist_x(self) -> float:
        return 8.5 * self.shape.palm_length

    def half_width(self, v: float) -> float:
        return (2.85 + 0.6 * _smoothstep(1.3 * v)) * self.shape.palm_width

    def dorsal(self, v: float) -> float:
        return (1.45 - 0.5 * v) * self.shape.palm_thickness * self.shape.flesh

    def palmar(self, v: float) -> float:
        return (1.55 - 0.2 * v) * self.shape.palm_thickness * self.shape.flesh

    def point(self, v: float, zn: float, dorsal_side: bool, x: float) -> np.ndarray:
        """Superellipse outline point at normalised width position zn ∈ [−1, 1]."""
        p = 2.6
        height = (1.0 - min(abs(zn), 1.0) ** p) ** (1.0 / p)
        z = 0.08 + zn * self.half_width(v)
        if dorsal_side:
            y = height * self.dorsal(v)
        else:
            y = -height * self.palmar(v)
            # thenar (thumb side) and hypothenar pads
            thenar = 0.5 * _smoothstep((zn - 0.05) / 0.6) * np.exp(-(((v - 0.35) / 0.28) ** 2))
            hypothenar = 0.25 * _smoothstep((-zn - 0.3) / 0.5) * np.exp(-(((v - 0.45) / 0.35) ** 2))
            y -= (thenar + hypothenar) * self.shape.flesh
        return np.array([x, y, z])


def _owner_of_palm_index(i: int) -> int:
    """Finger (index into FINGERS) owning position i of a 32-vertex palm ring."""
    return i // 8 if i < 16 else 3 - (i - 16) // 8


def _finger_geometry(shape: HandShape):
    """Per finger: MCP centre, direction, segment lengths, radius (cm, before the global size)."""
    out = []
    for k, f in enumerate(FINGERS):
        lengths = np.array(f.lengths) * shape.finger_length
        if f.name == "pinky":
            lengths = lengths * shape.pinky_length
        elif f.name == "index":
            lengths = lengths * (1.0 + shape.index_ring_ratio)
        elif f.name == "ring":
            lengths = lengths * (1.0 - shape.index_ring_ratio)
        mcp = np.array([f.mcp_x, 0.05, f.knuckle_z * shape.palm_width])
        radius = f.radius * shape.finger_thickness * shape.flesh
        out.append((mcp, _finger_direction(f.splay_deg), lengths, radius))
    return out


def _knuckle_points(fingers) -> np.ndarray:
    """The 32 knuckle-ring points: four finger base rings of 8, dorsal row pinky→index, palmar row back."""
    bases = [
        _ring(mcp, d, np.array([0.0, 1.0, 0.0]), 1.1 * r, 1.0 * r, 8, phase_deg=157.5)
        for mcp, d, _, r in fingers
    ]
    dorsal = [bases[k][j] for k in range(4) for j in range(4)]
    palmar = [bases[k][j] for k in (3, 2, 1, 0) for j in range(4, 8)]
    return np.array(dorsal + palmar)


def _palm_ring(palm: _Palm, v: float, n: int, knuckles: np.ndarray) -> np.ndarray:
    x_top = knuckles[:, 0]
    if n == 32:
        zn = np.concatenate([np.linspace(-0.96, 0.96, 16), np.linspace(0.96, -0.96, 16)])
        points = []
        for i in range(32):
            x = palm.wrist_x + v * (x_top[i] - palm.wrist_x)
            points.append(palm.point(v, zn[i], i < 16, x))
        points = np.array(points)
        blend = _smoothstep((v - 0.7) / 0.3)
        return (1.0 - blend) * points + blend * knuckles
    phi = np.deg2rad(180.0 - 180.0 / n - 360.0 * np.arange(n) / n)
    x = palm.wrist_x + v * (x_top.mean() - palm.wrist_x)
    points = []
    for a in phi:
        c, s = np.cos(a), np.sin(a)
        zn = np.sign(c) * abs(c) ** (2 / 2.6)
        p = palm.point(v, zn, s >= 0, x)
        p[1] = np.sign(s) * abs(s) ** (2 / 2.6) * (palm.dorsal(v) if s >= 0 else palm.palmar(v))
        points.append(p)
    return np.array(points)


def _chain_rings(start, directions, lengths, radii, up_hint, n_ring, tip_radius):
    """Rings along a three-segment chain (SEGMENT_RING_FRACTIONS), a tip ring, and the apex.

    Returns ring centres/points with their arc position s from the chain start, and the joint positions.
    """
    joints = [np.asarray(start, float)]
    for d, L in zip(directions, lengths):
        joints.append(joints[-1] + L * d)
    rings, arcs = [], []
    radius_iter = iter(radii)
    offset = 0.0
    for seg, (d, L) in enumerate(zip(directions, lengths)):
        for frac in SEGMENT_RING_FRACTIONS[seg]:
            centre = joints[seg] + frac * L * d
            # at a joint, orient the ring halfway between the two segments
            ring_dir = d if frac < 1.0 or seg == 2 else (d + directions[seg + 1]) / np.linalg.norm(d + directions[seg + 1])
            r = next(radius_iter)
            rings.append(_ring(centre, ring_dir, up_hint, r, 0.9 * r, n_ring))
            arcs.append(offset + frac * L)
        offset += L
    d, L = directions[2], lengths[2]
    rings.append(_ring(joints[2] + TIP_RING_FRACTION * L * d, d, up_hint, tip_radius, 0.85 * tip_radius, TIP_RING_SIZE))
    arcs.append(offset - (1 - TIP_RING_FRACTION) * L)
    apex = joints[3]
    return rings, arcs, apex, joints


@dataclass(frozen=True)
class OpenHandMesh:
    """Rest-pose geometry and everything the MANO layout needs that is linear in the vertices."""

    vertices: np.ndarray  # (778, 3) metres
    faces: np.ndarray  # (1538, 3)
    weights: np.ndarray  # (778, 16)
    joint_regressor: np.ndarray  # (16, 778)
    fingertip_ids: np.ndarray  # (5,) thumb, index, middle, ring, pinky
    joint_rings: dict  # MANO joint -> (vertex ids, segment up direction) for the knuckle bulge


def build_open_hand(shape: HandShape = HandShape()) -> OpenHandMesh:
    """Build the rest-pose open hand for the given generator parameters (topology does not depend on them)."""
    b = _Builder()
    palm = _Palm(shape)
    fingers = _finger_geometry(shape)
    knuckles = _knuckle_points(fingers)
    up = np.array([0.0, 1.0, 0.0])

    # Thumb chain (cm): CMC inside the thenar, curving from the radial side toward the fingers.
    t_len = np.array([3.7, 3.0, 2.6]) * shape.thumb_length
    t_dirs = [np.array(d) / np.linalg.norm(d) for d in ((-0.62, -0.3, 0.72), (-0.8, -0.25, 0.55), (-0.9, -0.2, 0.4))]
    cmc = np.array([5.7, -0.55, 2.25 * shape.palm_width])
    thumb_up = np.array([0.0, 0.7, 0.7])
    thumb_radius = np.array([1.3, 1.12, 1.0, 0.95, 0.9, 0.92, 0.86, 0.8, 0.7]) * shape.finger_thickness * shape.flesh
    t_rings, t_arcs, t_apex, t_joints = _chain_rings(cmc, t_dirs, t_len, thumb_radius, thumb_up, FINGER_RING_SIZE,
                                                     0.45 * shape.finger_thickness * shape.flesh)
    hole_centre_guess = cmc + 1.0 * t_dirs[0]

    def palm_weights(p: np.ndarray, owner: int | None) -> dict[int, float]:
        w = {0: 1.0}
        if owner is not None:
            mcp, d, lengths, _ = fingers[owner]
            w = _segment_weights(float(np.dot(p - mcp, d)), [0.0], [0, FINGERS[owner].joints[0]], [0.7])
        cmc_share = 0.6 * float(np.exp(-np.sum((p - hole_centre_guess) ** 2) / (2 * 1.5**2)))
        w = {j: (1 - cmc_share) * x for j, x in w.items()}
        w[THUMB_JOINTS[0]] = w.get(THUMB_JOINTS[0], 0.0) + cmc_share
        return w

    palm_rings = []
    for r, n in enumerate(PALM_RING_SIZES):
        v = r / KNUCKLE_RING
        points = _palm_ring(palm, v, n, knuckles)
        owners = [(_owner_of_palm_index(i) if n == 32 else None) for i in range(n)]
        palm_rings.append(b.add_ring(points, [palm_weights(p, o) for p, o in zip(points, owners)]))
    for r in range(KNUCKLE_RING):
        lo, hi = palm_rings[r], palm_rings[r + 1]
        if len(lo) == len(hi):
            skip = set(THUMB_HOLE_INDICES[:-1]) if r == THUMB_HOLE_RINGS[0] else set()
            b.faces += quad_band(lo, hi, skip)
        else:
            b.faces += bridge_loops(lo, hi, np.array(b.vertices))

    knuckle_ring = palm_rings[KNUCKLE_RING]
    joint_rings: dict[int, tuple[list[int], np.ndarray]] = {}
    tips = {}
    for k, (f, (mcp, d, lengths, radius)) in enumerate(zip(FINGERS, fingers)):
        dorsal_ids = [knuckle_ring[4 * k + j] for j in range(4)]
        palmar_ids = [knuckle_ring[16 + 4 * (3 - k) + j] for j in range(4)]
        base = dorsal_ids + palmar_ids
        joint_rings[f.joints[0]] = (base, up)
        taper = 1.0 - 0.2 * np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.85, 0.93])
        bulge = np.array([1.0, 1.0, 1.05, 1.0, 1.0, 1.04, 1.0, 1.0, 0.94])
        radii = radius * taper * bulge
        rings, arcs, apex, chain = _chain_rings(mcp, [d, d, d], lengths, radii, up, FINGER_RING_SIZE, 0.5 * radius)
        bounds = [0.0, lengths[0], lengths[0] + lengths[1]]
        chain_joints = [0, *f.joints]
        previous = base
        for ring_index, (ring, s) in enumerate(zip(rings, arcs)):
            w = _segment_weights(s, bounds, chain_joints, [0.7, 0.4, 0.35])
            ids = b.add_ring(ring, [w] * len(ring))
            b.faces += bridge_loops(previous, ids, np.array(b.vertices))
            if ring_index == 2:
                joint_rings[f.joints[1]] = (ids, up)
            if ring_index == 5:
                joint_rings[f.joints[2]] = (ids, up)
            previous = ids
        apex_id = b.add_ring(apex[None], [{f.joints[2]: 1.0}])[0]
        b.faces += fan(previous, apex_id)
        tips[f.name] = apex_id

    # webs between neighbouring fingers: quads (dorsal k end, dorsal k+1 start, palmar k+1 start, palmar k end)
    for k in range(3):
        d_end, d_next = knuckle_ring[4 * k + 3], knuckle_ring[4 * (k + 1)]
        p_end = knuckle_ring[16 + 4 * (3 - k)]  # palmar −22.5° point of finger k
        p_next = knuckle_ring[16 + 4 * (3 - (k + 1)) + 3]  # palmar −157.5° point of finger k+1
        b.faces += [(d_end, d_next, p_next), (d_end, p_next, p_end)]

    # thumb: hole loop in the palm band, then its rings
    r0, r1 = (palm_rings[i] for i in THUMB_HOLE_RINGS)
    hole = [r0[i] for i in THUMB_HOLE_INDICES] + [r1[i] for i in reversed(THUMB_HOLE_INDICES)]
    previous = hole
    t_bounds = [0.9, t_len[0], t_len[0] + t_len[1]]
    t_chain = [0, *THUMB_JOINTS]
    for ring_index, (ring, s) in enumerate(zip(t_rings, t_arcs)):
        w = _segment_weights(s, t_bounds, t_chain, [0.6, 0.45, 0.4])
        ids = b.add_ring(ring, [w] * len(ring))
        b.faces += bridge_loops(previous, ids, np.array(b.vertices))
        if ring_index == 2:
            joint_rings[THUMB_JOINTS[1]] = (ids, thumb_up)
        if ring_index == 5:
            joint_rings[THUMB_JOINTS[2]] = (ids, thumb_up)
        previous = ids
    thumb_tip = b.add_ring(t_apex[None], [{THUMB_JOINTS[2]: 1.0}])[0]
    b.faces += fan(previous, thumb_tip)
    tips["thumb"] = thumb_tip

    vertices = np.array(b.vertices) * shape.size
    faces = orient_consistently(np.array(b.faces, dtype=np.int64))
    if signed_volume(vertices, faces) < 0:
        faces = faces[:, ::-1].copy()

    weights = np.zeros((len(vertices), 16))
    for v, w in enumerate(b.skin):
        for j, x in w.items():
            weights[v, j] += x
    weights /= weights.sum(1, keepdims=True)

    regressor = np.zeros((16, len(vertices)))
    regressor[0, palm_rings[0] + palm_rings[1]] = 1.0 / (len(palm_rings[0]) + len(palm_rings[1]))
    for joint, (ids, _) in joint_rings.items():
        regressor[joint, ids] = 1.0 / len(ids)
    regressor[THUMB_JOINTS[0]] = _convex_weights_for(cmc * shape.size, vertices, np.concatenate(palm_rings))
    return OpenHandMesh(
        vertices=vertices * CM,
        faces=faces,
        weights=weights,
        joint_regressor=regressor,
        fingertip_ids=np.array([tips[name] for name in FINGERTIP_NAMES], dtype=np.int64),
        joint_rings=joint_rings,
    )


def _convex_weights_for(target: np.ndarray, vertices: np.ndarray, candidates: np.ndarray, k: int = 24) -> np.ndarray:
    """Non-negative weights summing to one over the k nearest candidate vertices that best reproduce target."""
    near = candidates[np.argsort(np.linalg.norm(vertices[candidates] - target, axis=1))[:k]]
    A = np.vstack([vertices[near].T, 100.0 * np.ones((1, len(near)))])
    w, _ = nnls(A, np.append(target, 100.0))
    row = np.zeros(len(vertices))
    row[near] = w / w.sum()
    return row


# ---------------------------------------------------------------------------------------------------------------
# The full model in MANO's npz layout

KNUCKLE_BULGE_CM = 0.18  # dorsal bulge of a joint ring at 90° of rotation (1 − cos θ = 1)


def _shape_directions(base: OpenHandMesh) -> np.ndarray:
    """(778, 3, 10) vertex displacement per unit β: central differences of the generator, one σ each."""
    dirs = np.zeros((len(base.vertices), 3, len(SHAPE_COMPONENTS)))
    for k, (name, sigma) in enumerate(SHAPE_COMPONENTS):
        default = getattr(HandShape(), name)
        eps = 0.25 * sigma
        plus = build_open_hand(replace(HandShape(), **{name: default + eps})).vertices
        minus = build_open_hand(replace(HandShape(), **{name: default - eps})).vertices
        dirs[:, :, k] = (plus - minus) / (2 * eps) * sigma
    return dirs


def _pose_directions(base: OpenHandMesh) -> np.ndarray:
    """(778, 3, 135) pose correctives: each joint ring bulges on its dorsal side by KNUCKLE_BULGE·(1 − cos θ).

    MANO's correctives multiply (R_j − I) flattened; its trace is −2(1 − cos θ), so the bulge sits on the
    three diagonal entries with −½ of the displacement each.
    """
    posedirs = np.zeros((len(base.vertices), 3, 135))
    for joint, (ids, up) in base.joint_rings.items():
        ring = base.vertices[ids]
        radial = ring - ring.mean(0)
        radial /= np.linalg.norm(radial, axis=1, keepdims=True)
        dorsal = np.clip(radial @ (up / np.linalg.norm(up)), 0.0, None)
        displacement = KNUCKLE_BULGE_CM * CM * dorsal[:, None] * radial
        for diagonal in (0, 4, 8):
            posedirs[ids, :, (joint - 1) * 9 + diagonal] = -0.5 * displacement
    return posedirs


def sample_plausible_poses(num: int, seed: int = 0) -> np.ndarray:
    """(num, 45) local axis-angles (radians, MANO joints 1..15) from a synergy model of hand poses, clipped to
    the E_J limits: a shared grasp closure, per-finger deviations, finger spread and thumb opposition."""
    from s2hand.hand.joint_limits import JOINT_LIMITS_DEG

    rng = np.random.default_rng(seed)
    grasp = rng.beta(1.3, 2.0, size=num)
    spread = rng.uniform(-1.0, 1.0, size=num)
    pose = np.zeros((num, 15, 3))
    # finger (MCP, PIP, DIP MANO ids), spread direction (y sign for spreading apart), spread amplitude
    fingers = (((1, 2, 3), 1.0, 8.0), ((4, 5, 6), 0.0, 3.0), ((10, 11, 12), -1.0, 5.0), ((7, 8, 9), -1.0, 12.0))
    for (mcp, pip, dip), direction, amplitude in fingers:
        closure = np.clip(grasp + rng.normal(0, 0.18, num), -0.05, 1.0)
        pose[:, mcp - 1, 2] = closure * 80 + rng.normal(0, 6, num)
        pose[:, pip - 1, 2] = closure * 90 + rng.normal(0, 8, num)
        pose[:, dip - 1, 2] = 0.75 * pose[:, pip - 1, 2] + rng.normal(0, 6, num)
        pose[:, mcp - 1, 1] = (direction * amplitude * spread + rng.normal(0, 3, num)) * (1 - 0.6 * np.clip(closure, 0, 1))
        pose[:, [mcp - 1, pip - 1, dip - 1], 0] = rng.normal(0, 2, (num, 3))
    pose[:, 6, 0] += rng.normal(-4, 4, num)  # pinky MCP twists toward the palm
    opposition = np.clip(0.3 + 0.6 * grasp + rng.normal(0, 0.2, num), 0, 1)
    pose[:, 12, 0] = opposition * 75 + rng.normal(0, 5, num)
    pose[:, 12, 1] = rng.normal(5, 10, num)
    pose[:, 12, 2] = rng.normal(0, 8, num) + 8 * grasp
    pose[:, 13, 2] = rng.normal(0, 8, num) + 12 * grasp
    pose[:, 14, 2] = 10 + 60 * grasp + rng.normal(0, 12, num)
    pose[:, 13:, :2] += rng.normal(0, 2, (num, 2, 2))
    pose = np.clip(pose, JOINT_LIMITS_DEG[None, :, :, 0], JOINT_LIMITS_DEG[None, :, :, 1])
    return np.deg2rad(pose).reshape(num, 45)


def build_open_hand_model(seed: int = 0) -> dict[str, np.ndarray]:
    """All arrays of the MANO npz layout for the open hand (plus fingertip_ids and provenance)."""
    base = build_open_hand()
    poses = sample_plausible_poses(20000, seed)
    mean = poses.mean(0)
    _, _, components = np.linalg.svd(poses - mean, full_matrices=False)  # rows: orthonormal, by variance
    parents = np.array(MANO_PARENTS, dtype=np.int64)
    return {
        "v_template": base.vertices,
        "f": base.faces,
        "weights": base.weights,
        "J_regressor": base.joint_regressor,
        "shapedirs": _shape_directions(base),
        "posedirs": _pose_directions(base),
        "kintree_table": np.stack([parents, np.arange(16, dtype=np.int64)]),
        "hands_components": components,
        "hands_mean": mean,
        "fingertip_ids": base.fingertip_ids,
        "model_name": np.array("s2hand-open-hand-v1"),
    }
