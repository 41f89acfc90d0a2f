"""Optional tests that run a real small model (SmolLM2-135M-Instruct) behind the Ollama protocol."""
