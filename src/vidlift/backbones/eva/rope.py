"""2-D rotary position embedding (RoPE) of EVA02's image tower.

RoPE (Su et al., "RoFormer", 2021) rotates each query / key channel pair (2j, 2j+1) by an
angle proportional to the token's position, so that q·k depends on positions only through
their difference. EVA02 makes it two-dimensional: in each head of width d, the first d/2
channels (d/4 pairs) rotate with the patch's row, the last d/2 with its column, pair k of
an axis at frequency θ^(−k / (d/4)). Positions are patch indices scaled so that the grid
spans the reference grid the model was pretrained on (``ref_grid``): row i of an h-row grid
sits at i / h · ref_h. Only patch tokens rotate; prefix tokens (class token, prompts) have
no position.

Because the rotation is orthogonal and the same for a given position, a sequence whose
elements all share one patch position (a token's states over T frames) sees no RoPE at all
in its attention scores: R q · R k = q · k.
"""

from __future__ import annotations

import torch


def rope_angles(grid: tuple[int, int], head_dim: int, ref_grid: tuple[int, int], theta: float,
                device: torch.device | None = None) -> torch.Tensor:
    """Rotation angle of every channel pair at every patch: (gh·gw, head_dim / 2), float32,
    patches in row-major order, the first head_dim / 4 pairs for rows, the rest for columns."""
    if head_dim % 4:
        raise ValueError(f"2-D RoPE needs a head width divisible by 4, got {head_dim}")
    bands = head_dim // 4
    freq = 1.0 / (theta ** (torch.arange(bands, dtype=torch.float32, device=device) / bands))
    rows, cols = (torch.arange(n, dtype=torch.float32, device=device) / n * ref for n, ref in zip(grid, ref_grid))
    gh, gw = grid
    row_angle = (rows[:, None] * freq).view(gh, 1, bands).expand(gh, gw, bands)
    col_angle = (cols[:, None] * freq).view(1, gw, bands).expand(gh, gw, bands)
    return torch.cat([row_angle, col_angle], dim=-1).reshape(gh * gw, 2 * bands)


def rope_table(grid: tuple[int, int], head_dim: int, ref_grid: tuple[int, int], theta: float,
               device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin), each (gh·gw, head_dim) float32, every pair's value repeated for its two channels."""
    angle = rope_angles(grid, head_dim, ref_grid, theta, device).repeat_interleave(2, dim=-1)
    return angle.cos(), angle.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (..., P, d) by the table (P, d): pair (a, b) -> (a·cos − b·sin, b·cos + a·sin).
    Computed in float32 (the table's precision), returned in x's dtype."""
    pairs = x.unflatten(-1, (-1, 2))
    swapped = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)  # (−b, a) per pair
    return (x * cos + swapped * sin).to(x.dtype)
