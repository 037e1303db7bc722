#!/usr/bin/env bash
# The full-size Table 2 sweep of Kim et al. (003) on CIFAR-10: 7 methods × {ResNet, DCGAN}, 200k generator
# iterations each, IS/FID (50k samples) every 10k iterations. Needs, on this machine:
#   data/cifar-10-python.tar.gz        https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (MD5-checked)
#   weights/pt_inception-2015-12-05-6726825d.pth   torch-fidelity's InceptionV3 weights (its GitHub releases)
# Rerun the same command after an interruption: finished runs are skipped, the interrupted one resumes.
set -euo pipefail
DATA=${DATA:-data}
WEIGHTS=${WEIGHTS:-weights/pt_inception-2015-12-05-6726825d.pth}
DEVICE=${DEVICE:-cuda}
for ARCH in resnet dcgan; do
  ganstab table2 --arch "$ARCH" --data-dir "$DATA" --inception-weights "$WEIGHTS" \
    --set device="$DEVICE" --set eval_every=10000 --out "runs/table2-$ARCH"
done
# One method alone, e.g. the ResNet with mu_mid:
#   ganstab train --preset cifar10-resnet-mu_mid --set data_dir=data --set device=cuda \
#     --set eval_every=10000 --set inception_weights=$WEIGHTS --out runs/resnet-mu_mid
# For a cluster, print one command per method instead:
#   ganstab table2 --arch resnet --data-dir data --out runs/table2-resnet --print-commands
