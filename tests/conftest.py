import os

import matplotlib

# Headless plotting in every test process, and one thread each so the suite behaves on 2-core CI.
matplotlib.use("Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")
