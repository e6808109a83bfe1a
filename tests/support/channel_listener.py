"""A channel layer a test can receive on from its own event loops."""

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer


def listening_layer():
    """On Redis, an instance of the layer of its own: channels_redis refuses receives from two
    event loops on one instance, and the live gateway's thread may be receiving on the shared
    one. What the platform sends reaches this instance through Redis. The in-memory layer keeps
    its channels in the instance, so there the shared instance is the one that hears."""
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        return layer
    return channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
