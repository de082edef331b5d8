"""Runs a script under a Python that has Hugging Face's `tokenizers` package, pinned.

Imported first by make_unicode_tables.py and make_wordpiece_golden.py: when `tokenizers` cannot be imported, it
creates a virtual environment under ~/.cache/siamese (SIAMESE_CACHE overrides the cache folder) with only
tokenizers (no torch, no transformers) and runs the calling script again under it. The library never needs it.
"""
import os
import subprocess
import sys

TOKENIZERS_VERSION = '0.22.2'


def ensure():
    try:
        import tokenizers
        if tokenizers.__version__ == TOKENIZERS_VERSION:
            return
    except ImportError:
        pass
    if os.environ.get('SIAMESE_TOKENIZERS_VENV_TRIED'):
        sys.exit('cannot import tokenizers %s even in its virtual environment' % TOKENIZERS_VERSION)
    cache = os.environ.get('SIAMESE_CACHE') or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'siamese')
    venv = os.path.join(cache, 'tokenizers-%s-venv' % TOKENIZERS_VERSION)
    python = os.path.join(venv, 'bin', 'python')
    if not os.path.exists(python):
        print('installing tokenizers %s into %s' % (TOKENIZERS_VERSION, venv), file=sys.stderr)
        subprocess.check_call([sys.executable, '-m', 'venv', venv])
        subprocess.check_call([python, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
                               'tokenizers==' + TOKENIZERS_VERSION])
    env = dict(os.environ, SIAMESE_TOKENIZERS_VENV_TRIED='1')
    os.execve(python, [python] + sys.argv, env)
