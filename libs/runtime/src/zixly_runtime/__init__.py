"""The plumbing every Zixly service shares, so that each delivery rule is written once.

Only infrastructure lives here (how messages are consumed, committed, dead-lettered and published, how
logs look); no service's rules. Services still never import each other.
"""
