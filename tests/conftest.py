"""Checks every test gets for free."""
import pytest
import torch


@pytest.fixture(autouse=True)
def autograd_left_on():
    """No test may leave autograd off for the tests after it (a generator that yielded inside
    ``torch.no_grad()`` once did, and training tests far away failed). The mode is put back
    so that only the test at fault fails."""
    yield
    enabled = torch.is_grad_enabled()
    torch.set_grad_enabled(True)
    assert enabled, 'this test left autograd off (a torch.no_grad() block never exited)'
