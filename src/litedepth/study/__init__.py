"""The paper's study: every configuration trained and evaluated, and its report."""
