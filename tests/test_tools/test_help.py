"""Every tool's ``--help``: built by ``build_parser()`` with the shared parser style, every option
explained, defaults shown, plain text (no reStructuredText), and one ``--device`` default."""
import argparse
import importlib

import pytest

from mmrest.utils import cli
from tests.common import REPO

TOOLS = sorted('.'.join(p.relative_to(REPO).with_suffix('').parts)
               for p in (REPO / 'tools').rglob('*.py')
               if p.stem != '__init__' and 'dev' not in p.relative_to(REPO).parts)


@pytest.fixture(params=TOOLS)
def parser(request) -> argparse.ArgumentParser:
    return importlib.import_module(request.param).build_parser()


def test_every_option_is_explained(parser, request):
    # A tool that runs without torch (TORCH_FREE) cannot import mmrest's parser style; its
    # help texts state their defaults, which the next test checks.
    if not getattr(importlib.import_module(request.node.callspec.params['parser']),
                   'TORCH_FREE', False):
        assert parser.formatter_class is cli.HelpFormatter
    unexplained = [action.dest for action in parser._actions
                   if not isinstance(action, argparse._HelpAction) and not action.help]
    assert not unexplained, unexplained


def test_help_is_plain_text_with_defaults(parser):
    text = parser.format_help()
    assert '``' not in text and ':mod:' not in text and ':func:' not in text
    for empty in ('None', 'False', '{}', '[]'):
        assert f'(default: {empty})' not in text
    for action in parser._actions:
        if action.option_strings and cli.has_default(action):
            assert 'default' in parser._get_formatter()._get_help_string(action), action.dest


def test_one_device_default(parser):
    (device, ) = [a for a in parser._actions if '--device' in a.option_strings] or [None]
    if device is None:
        pytest.skip('no --device')
    assert device.default == cli.default_device()
    assert tuple(device.choices) == cli.DEVICES
    assert 'cuda if a GPU is visible, else cpu' in ' '.join(parser.format_help().split())


def test_plain_text_drops_markup():
    doc = 'Run :func:`mmrest.apis.train` on ``CONFIG``::\n\n    python x.py'
    assert cli.plain_text(doc) == 'Run mmrest.apis.train on CONFIG:'


def test_sizes_default_as_written():
    parser = cli.make_parser('x')
    parser.add_argument('--input', type=cli.parse_wh, default='1280x800', help='WxH')
    assert parser.parse_args([]).input == (800, 1280)
    assert '(default: 1280x800)' in parser.format_help()
