"""Optional integrations (Weights & Biases); each imports its third-party package inside its functions."""
