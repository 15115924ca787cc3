"""Process runtime: settings, the application context, metrics and logging."""

from dispatcher.runtime.context import AppContext, connect_redis
from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from dispatcher.runtime.settings import Settings

__all__ = ["AppContext", "DispatchMetrics", "Settings", "connect_redis", "new_registry"]
