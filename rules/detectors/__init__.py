"""Rule detectors: one module per detector, each a small plug-in over `base.Detector`."""

from rules.detectors.base import Detector
from rules.detectors.injection import InjectionDetector
from rules.detectors.keywords import KeywordsDetector
from rules.detectors.pii import PiiDetector
from rules.detectors.regex import RegexDetector
from rules.detectors.secrets import SecretsDetector
from rules.detectors.size import SizeDetector
from rules.detectors.tool_matcher import ToolMatcher
from rules.detectors.webhook import WebhookDetector

REGISTRY: dict[str, type[Detector]] = {
    cls.key: cls
    for cls in (
        SecretsDetector,
        PiiDetector,
        RegexDetector,
        KeywordsDetector,
        ToolMatcher,
        SizeDetector,
        InjectionDetector,
        WebhookDetector,
    )
}
KEYS = tuple(REGISTRY)
