"""The tree's tools whose files have no .py suffix (bench/net/run, bench/net/jit-per-mb, ...)
loaded as modules, for the tests and for bench scripts that build on one another."""
import importlib.machinery
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def load_script(relpath, name):
    """The file at `relpath` (from the tree's root) as a module called `name`."""
    path = os.path.join(ROOT, relpath)
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
