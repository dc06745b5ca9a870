"""Copies the checkout's build/libs2s.so.MAJOR (made by `make`) into the package, so that the
installed package finds its library without LD_LIBRARY_PATH. Without it the package looks for
the library at run time ($S2S_LIBRARY, then the system: see seq2seq/_lib.py)."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
SONAME = 'libs2s.so.1'


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = os.environ.get('S2S_LIBRARY') or os.path.join(HERE, '..', 'build', SONAME)  # an absolute path
        dest = os.path.join(self.build_lib, 'seq2seq', SONAME)
        if os.path.exists(lib):
            shutil.copyfile(os.path.realpath(lib), dest)
            os.chmod(dest, 0o755)
            print(f'seq2seq: bundled {os.path.realpath(lib)}')
        else:
            print(f'seq2seq: {lib} not found (run make first?): the package will look for libs2s at run time')


setup(cmdclass={'build_py': BuildWithLibrary})
