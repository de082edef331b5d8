"""Shared by the golden-file scripts: run them in the peers' virtual environment (scripts/peers_venv), which
holds PyTorch, sentence-transformers and safetensors; any python3 can start them."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def reexec_in_venv():
    """Returns when this interpreter is the venv's; otherwise creates the venv once and re-runs the script in it."""
    venv = subprocess.check_output([os.path.join(ROOT, "scripts", "peers_venv")], text=True).strip()
    if os.path.realpath(sys.prefix) == os.path.realpath(venv):
        return
    python = os.path.join(venv, "bin", "python")
    os.execv(python, [python, os.path.abspath(sys.argv[0])] + sys.argv[1:])


def minilm_folder():
    """all-MiniLM-L6-v2's files, fetched once by scripts/fetch_minilm."""
    return subprocess.check_output([os.path.join(ROOT, "scripts", "fetch_minilm")], text=True).strip()
