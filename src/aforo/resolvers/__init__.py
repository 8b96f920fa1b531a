"""Root Query / Mutation / Subscription classes per domain, composed in ``aforo.app``."""
