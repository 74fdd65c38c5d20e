"""Which adapter serves a configured provider."""

from fulfillment.choices import ProviderKind
from fulfillment.providers.file_drop import FileDropAdapter
from fulfillment.providers.printful import PrintfulAdapter

ADAPTERS = {
    ProviderKind.PRINTFUL: PrintfulAdapter,
    ProviderKind.FILE_DROP: FileDropAdapter,
}


def adapter_for(provider):
    return ADAPTERS[provider.kind].for_provider(provider)
