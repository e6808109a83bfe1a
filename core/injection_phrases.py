"""The prompt-injection phrases: the common shapes of text that tries to instruct a model.

Kept below every app that reads text aimed at a model: the injection detector runs them on tool
results (`rules/detectors/injection.py`), the admission checks on tool definitions
(`gateways/admission.py`). Each phrase is (anchors, expression, leads): the expression runs only
when one of its anchors occurs, and every match starts with one of its leads, if it has any. All
are lower case; the expressions run on lower-cased text.
"""

_ANY = r"(?:all |any |the |your |my |these |those )?"
_VERBS = ("ignore", "disregard", "forget", "override", "bypass")
Phrase = tuple[tuple[str, ...], str, tuple[str, ...]]

# A verb and its object alone ("override rules", "forget all"): right for a result that turns on
# the model, too broad for a tool's description of what the tool itself does.
BROAD: tuple[Phrase, ...] = (
    (
        _VERBS,
        rf"(?:ignore|disregard|forget|override|bypass)\s+{_ANY}(?:previous|prior|above|earlier"
        r"|preceding|original|system|safety)?\s*(?:instructions?|prompts?|rules|directions"
        r"|guidelines|context|messages?)",
        _VERBS,
    ),
    (("forget",), r"forget (?:everything|all)(?: (?:you were told|above|before))?", ("forget",)),
)
SPECIFIC: tuple[Phrase, ...] = (
    (
        ("you are now",),
        r"you are now (?:a |an |in |the )?[\w -]{0,30}(?:mode|assistant|ai|model|dan|jailbroken)",
        ("you are now",),
    ),
    (
        ("instruction",),
        r"(?:new|updated|real|actual|secret|hidden) (?:system )?instructions?\s*:",
        (),
    ),
    (
        ("system prompt", "hidden prompt", "instruction"),
        r"(?:reveal|print|show|output|repeat|leak) (?:your |the )?(?:system prompt|hidden prompt"
        r"|initial instructions|instructions above)",
        (),
    ),
    (
        ("the user",),
        r"(?:(?:do not|don't|never) (?:tell|inform|mention (?:this )?to|reveal (?:this )?to"
        r"|show) the user|(?:without|before) (?:asking|telling|informing|notifying) the user)",
        (),
    ),
    (
        ("unrestricted", "unfiltered", "jailbr", "evil", "developer mode"),
        r"(?:act|behave|respond) as (?:if you (?:are|were) )?(?:an? )?(?:unrestricted|unfiltered"
        r"|jailbroken|evil|developer mode)",
        (),
    ),
    (
        ("developer mode", "god mode", "dan mode", "jailbreak mode"),
        r"(?:enable|enter|activate) (?:developer|god|dan|jailbreak) mode",
        (),
    ),
    (
        ("<|", "[inst]", "[/inst]", "<<sys>>"),
        r"<\|im_start\|>|<\|im_end\|>|<\|system\|>|\[/?inst\]|<<sys>>|<\|endoftext\|>",
        ("<|", "[inst]", "[/inst]", "<<sys>>"),
    ),
    (
        ("important>", "system>", "system-prompt>", "admin-instructions>"),
        r"</?(?:important|system|system-prompt|admin-instructions)>",
        (),
    ),
    (
        ("credential", "secret", "api key", "token", "password", "private key", "ssh key", "env"),
        r"(?:send|exfiltrate|upload|post|forward) (?:all |the |any )?(?:\w+ ){0,3}(?:credentials"
        r"|secrets|api keys?|tokens|passwords|private keys?|ssh keys?|env(?:ironment)? variables)"
        r" to",
        ("send ", "exfiltrate ", "upload ", "post ", "forward "),
    ),
    (
        ("administrator", "developer", "openai", "anthropic"),
        r"(?:this is|message from) (?:the |your )?(?:system administrator|developer|openai"
        r"|anthropic)[,:]",
        (),
    ),
)
PHRASES: tuple[Phrase, ...] = BROAD + SPECIFIC
