#!/bin/sh
# One-shot entrypoint of the compose service "ollama-init" (image ollama/ollama): make sure the chat
# model is in the Ollama store, then exit 0 so the api service may start.
#
#   MINEOPS_OLLAMA_MODEL  model to pull (default qwen2.5:7b, the API's MINEOPS_OLLAMA_MODEL)
#   OLLAMA_HOST           the Ollama server to pull into (compose: ollama:11434)
#
# A model already in the store is not pulled again, so a site that has lost its internet link
# still starts. Refresh a model on purpose with: docker compose exec ollama ollama pull MODEL
set -eu

model="${MINEOPS_OLLAMA_MODEL:-qwen2.5:7b}"

if ollama show "$model" >/dev/null 2>&1; then
    echo "ollama-init: $model already present on ${OLLAMA_HOST:-the local server}; nothing to pull"
    exit 0
fi

echo "ollama-init: pulling $model into ${OLLAMA_HOST:-the local server} (several GB on first deploy)"
if ! ollama pull "$model"; then
    echo "ollama-init: could not pull $model (no route to the Ollama registry?)." >&2
    echo "ollama-init: the api service waits for this step; see docs/operations.md, 'Offline sites'." >&2
    exit 1
fi
echo "ollama-init: $model ready"
