"""adapt on a real image, and class-token attention mapped back onto its pixels.

The ViT is a two-block DINOv2-small of width 48 with random weights (nothing can be
downloaded when the docs are built), so the maps show the mechanics, not what a
trained network attends to.
"""

import matplotlib.pyplot as plt
import torch
from astropy.io import fits

import astrofm
from astrofm.detect import simulate_radio_galaxy
from astrofm.features import plot_attention

torch.set_num_threads(1)
TINY = {"depth": 2, "embed_dim": 48, "num_heads": 3}
vit = astrofm.backbones.load("dinov2-small", weights=None, **TINY)

# NGC 1316 from a tile-compressed FITS file that ships inside astropy's wheel.
real = astrofm.load(fits.util.get_testdata_filepath("comp.fits"), hdu=1)
batch = astrofm.adapt(real, model=vit, size=112)

fig = plt.figure(figsize=(12, 4.2))
ax_in = fig.add_subplot(1, 3, 1)
ax_in.imshow(batch.tensor[0, 0].numpy(), cmap="gray", origin="lower")
step = vit.spec.patch_size
for edge in range(0, batch.tensor.shape[-1] + 1, step):
    ax_in.axvline(edge - 0.5, color="tab:orange", lw=0.4)
    ax_in.axhline(edge - 0.5, color="tab:orange", lw=0.4)
ax_in.set_title(f"model input {tuple(batch.tensor.shape[2:])}, {step} px patches", fontsize=10)

ax_real = fig.add_subplot(1, 3, 2)
plot_attention(real, batch.attention(), ax=ax_real)
ax_real.set_title(f"attention on NGC 1316 {real.shape}", fontsize=10)

galaxy = simulate_radio_galaxy("2C-2P", shape=64, seed=123)
ax_sim = fig.add_subplot(1, 3, 3)
plot_attention(galaxy, astrofm.adapt(galaxy, model=vit, size=112).attention(), ax=ax_sim)
ax_sim.set_title("attention on a simulated 2C-2P radio galaxy", fontsize=10)
for ax in fig.axes:
    ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout()
