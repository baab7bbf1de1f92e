"""Start-up of a one-structure ``anncli predict``: only what the run needs is imported.

A shell loop calling predict once per structure pays the imports every time: scipy.special
(tanh networks do not need it), h5py (ænet .nn potentials do not need it), matplotlib and the
training modules stay out.  Checked in a fresh interpreter, without timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOT_NEEDED = ["scipy.special", "h5py", "matplotlib", "anncli.training", "anncli.workflows.train",
              "anncli.workflows.generate", "anncli.io.trainset", "anncli.validation"]


def test_one_structure_predict_with_aenet_networks_imports_only_what_it_needs(golden, tmp_path):
    data = golden / "predict-TiO2"
    cfg = tmp_path / "predict.yaml"
    cfg.write_text(f"aenet_networks: {{Ti: {data / 'Ti.nn'}, O: {data / 'O.nn'}}}\n"
                   f"structures: ['{data / 'xsf-TiO2' / 'structure-001.xsf'}']\n")
    code = (
        "import sys\n"
        "from anncli.cli import main\n"
        f"assert main(['-q', 'predict', {str(cfg)!r}]) == 0\n"
        f"print('LOADED', [m for m in {NOT_NEEDED!r} if m in sys.modules])\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Total energy" in proc.stdout or "total energy" in proc.stdout.lower()  # it did predict
    assert proc.stdout.strip().splitlines()[-1] == "LOADED []"
