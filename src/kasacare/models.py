"""Every table of the service, imported in one place for migrations and metadata."""

from kasacare.accounts.models import AccessToken, Account, SignInFailure
from kasacare.cameras.models import Camera, Device
from kasacare.kit.db import TestClockRow

__all__ = ["AccessToken", "Account", "Camera", "Device", "SignInFailure", "TestClockRow"]
