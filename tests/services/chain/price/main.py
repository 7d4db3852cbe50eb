import os

import nubo


def handler(event, ctx):
    notified = nubo.call("notify", {"amount": 5 * int(event.get("qty", 1))})
    return {
        "amount": notified["amount"],
        "chain": [{"function": ctx["function"], "release": ctx["release"]}] + notified["chain"],
    }
