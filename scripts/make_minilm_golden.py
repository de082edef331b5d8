#!/usr/bin/env python3
"""Writes tests/zoo/data/minilm_golden.json: all-MiniLM-L6-v2's sentence embeddings as sentence-transformers
computes them, the golden file of the library's MiniLM encoder.

Run once (the output is committed); any python3 starts it, and it re-runs itself in the peers' virtual
environment (scripts/peers_venv: PyTorch 2.x and sentence-transformers from PyPI, created once, several GB):
    python3 scripts/make_minilm_golden.py
The model's files come from scripts/fetch_minilm. Everything runs on the CPU in float32.

For each sentence, at max_seq_length = 128 (longer ones are truncated to 128 tokens, [CLS] and [SEP] included):
  text            the sentence
  input_ids       the token ids the model saw, unpadded ([CLS] ... [SEP]); token_type_ids are all 0
  attention_mask  its attention mask (all ones: each sentence is encoded alone, without padding)
  truncated       whether the tokenizer cut the sentence at 128 tokens
  embedding       model.encode(text, normalize_embeddings=True): 384 floats of norm 1 (the model's own last module
                  is Normalize)
  mean_pooled     the mean of the last hidden states over the tokens (the Pooling module's output), before the
                  normalisation: embedding = mean_pooled / |mean_pooled|
and, for two sentences ("hidden_states"), from the Hugging Face BertModel with output_hidden_states=True, one row
of 384 floats per token:
  after_embeddings_layernorm   hidden_states[0]: word + position + token type embeddings, then LayerNorm
  after_layer_0                hidden_states[1]: the output of the first encoder layer
Floats are written as the shortest decimal that reads back to the same float32.
"""
import json
import os
import sys

import peers

peers.reexec_in_venv()

import numpy as np  # noqa: E402  (from the venv)
import sentence_transformers  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

OUT = os.path.join(peers.ROOT, "tests", "zoo", "data", "minilm_golden.json")
MAX_SEQ_LENGTH = 128
HIDDEN_STATE_SENTENCES = (0, 66)  # a short English sentence and one with accents and an unknown character

SENTENCES = [
    # plain English, short to medium, varied topics and forms
    "The cat sits on the mat.",
    "A man is playing a guitar.",
    "A woman is slicing an onion in the kitchen.",
    "Two dogs are running through a field of tall grass.",
    "How do I reset my password?",
    "What is the capital of Australia?",
    "Canberra is the capital city of Australia.",
    "The stock market fell sharply on Monday after the announcement.",
    "Interest rates were raised by a quarter of a percentage point.",
    "I can't believe it's already December!",
    "She didn't want to go, but he insisted.",
    "Photosynthesis converts light energy into chemical energy.",
    "The mitochondria is the powerhouse of the cell.",
    "Water boils at 100 degrees Celsius at sea level.",
    "The quick brown fox jumps over the lazy dog.",
    "Please call me back at 555-0123 before 5 p.m.",
    "The meeting has been moved to 3:30 PM on Thursday, March 14th.",
    "Version 2.0.1 fixes a crash when the input file is empty.",
    "Visit https://example.com/docs?page=2 for more details.",
    "Send an email to support@example.org if the problem persists.",
    "HELLO WORLD",
    "hello world",
    "Hello, world!!!",
    "Siamese networks learn a similarity function between two inputs.",
    "Contrastive loss pulls similar pairs together and pushes dissimilar pairs apart.",
    "Triplet loss compares an anchor with a positive and a negative example.",
    "The library is header-only and written in modern C++.",
    "Gradient descent updates the weights in the direction that reduces the loss.",
    "A transformer encoder uses self-attention to mix information between tokens.",
    "He bought three apples, two bananas and a loaf of bread.",
    "The train to Edinburgh departs from platform 9 at 10:15.",
    "My flight was delayed by four hours because of the storm.",
    "It rained all weekend, so we stayed inside and played board games.",
    "The children laughed as the clown juggled five oranges.",
    "Can you recommend a good book about the history of mathematics?",
    "Euler's identity links e, i, pi, one and zero.",
    "The patient was prescribed 20 mg of the drug twice a day.",
    "Wash your hands for at least twenty seconds.",
    "The referee blew the whistle and the match was over.",
    "Manchester United beat Liverpool 2-1 in a dramatic finish.",
    "A new species of frog was discovered in the rainforest.",
    "The telescope captured images of a galaxy billions of light-years away.",
    "Our quarterly revenue grew by 12% compared with last year.",
    "The court ruled that the contract was invalid.",
    "Turn left at the second traffic light, then go straight for 200 metres.",
    "I'm sorry, I don't understand the question.",
    "Is it going to snow tomorrow?",
    "Yes.",
    "No way!",
    "Thanks a lot :)",
    "unbelievable",
    "antidisestablishmentarianism",
    "a",
    "",
    "   leading and trailing spaces   ",
    "Tabs\tand\nnewlines\nin the middle.",
    "The year 1969 saw the first humans walk on the Moon.",
    "Shakespeare wrote Hamlet around the year 1600.",
    "A bicycle has two wheels, while a tricycle has three.",
    "The recipe calls for 250 g of flour, 2 eggs and a pinch of salt.",
    "Don't count your chickens before they hatch.",
    "The early bird catches the worm, but the second mouse gets the cheese.",
    "What's the difference between a virus and a bacterium?",
    "Bacteria are single-celled organisms; viruses need a host cell to replicate.",
    # accents, other scripts, symbols the vocabulary lacks
    "Crème brûlée is a classic French dessert.",
    "Müller's café in Zürich serves the best Käsekuchen.",
    "The naïve façade of the résumé fooled no one \u2603.",
    "El niño comió paella en la playa de València.",
    "Москва — столица России.",
    "東京は日本の首都です。",
    "北京是中国的首都。",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "القاهرة هي عاصمة مصر.",
    "I love pizza 🍕 and sushi 🍣!",
    # longer than 128 tokens: truncation matters
    "The history of computing is longer than the history of computing hardware and modern computing technology "
    "and includes the history of methods intended for pen and paper or for chalk and slate, with or without the aid "
    "of tables. Digital computing is intimately tied to the representation of numbers, but long before abstractions "
    "like the number arose, there were mathematical concepts to serve the purposes of civilization. These concepts "
    "are implicit in concrete practices such as one-to-one correspondence, the basis of counting, comparison to a "
    "standard, used for measurement, and the 3-4-5 right triangle, a device for assuring a right angle. The earliest "
    "known tool for use in computation was the abacus, and it was thought to have been invented in Babylon "
    "circa 2400 BC.",
    "When the committee finally met on the third Tuesday of the month, after weeks of postponements caused by "
    "illness, travel, a flooded basement and an unusually stubborn disagreement about the agenda itself, the first "
    "item it discussed was not the budget, nor the hiring plan, nor even the long-delayed renovation of the library, "
    "but whether minutes should be taken by hand or typed directly into a shared document; this question, which "
    "everyone had assumed would take five minutes, consumed the entire morning, two pots of coffee and most of the "
    "goodwill that remained among the members, so that by lunchtime the chair declared the meeting adjourned and "
    "suggested, to general relief, that they try again next month.",
    "Neural networks for metric learning map inputs such as images, sentences or audio clips to vectors in an "
    "embedding space where distances reflect semantic similarity. A Siamese architecture applies the same encoder, "
    "with shared weights, to both members of a pair, and a loss function such as the contrastive loss, the triplet "
    "loss or the multiple negatives ranking loss shapes the space during training. Once trained, the encoder can "
    "embed a large collection of items once, store the vectors in an index, and answer nearest-neighbour queries "
    "quickly, which makes the approach popular for semantic search, duplicate detection, face verification, "
    "recommendation and clustering tasks in industry and research alike, often with pretrained transformer models.",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo "
    "consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla "
    "pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id "
    "est laborum.",
]


def floats(a):
    """A JSON array of float32 values, each the shortest decimal that reads back to the same float32."""
    return "[" + ",".join(np.format_float_positional(np.float32(v), unique=True, trim="-") if abs(v) >= 1e-4 or v == 0
                          else np.format_float_scientific(np.float32(v), unique=True, trim="-")
                          for v in np.asarray(a, dtype=np.float32).ravel()) + "]"


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    versions = {"torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "numpy": np.__version__, "python": sys.version.split()[0]}
    print("versions: " + ", ".join("%s %s" % kv for kv in versions.items()))
    folder = peers.minilm_folder()
    model = SentenceTransformer(folder, device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH
    model.eval()
    modules = [type(m).__name__ for m in model]
    print("modules: %s" % modules)
    assert modules == ["Transformer", "Pooling", "Normalize"], modules
    assert model[1].pooling_mode == "mean", model[1].pooling_mode
    bert = model[0].auto_model

    rows = []
    for i, text in enumerate(SENTENCES):
        features = model.preprocess([text])
        ids = features["input_ids"][0].tolist()
        mask = features["attention_mask"][0].tolist()
        assert all(t == 0 for t in features.get("token_type_ids", torch.zeros(1, dtype=torch.long))[0].tolist())
        full = model.tokenizer(text)["input_ids"]
        with torch.no_grad():
            out = model[1](model[0]({k: v for k, v in features.items()}))
        mean = out["sentence_embedding"][0].numpy()
        emb = model.encode([text], normalize_embeddings=True, convert_to_numpy=True, batch_size=1)[0]
        # the two routes agree: the embedding is the normalised mean
        assert np.allclose(mean / np.linalg.norm(mean), emb, atol=2e-6), i
        assert abs(float(np.linalg.norm(emb)) - 1) < 1e-5
        rows.append({"text": text, "ids": ids, "mask": mask, "truncated": len(full) > MAX_SEQ_LENGTH,
                     "embedding": emb, "mean": mean})
    # padding does not change an embedding: encoding all at once (padded batches) agrees
    batched = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True, batch_size=16)
    pad_diff = float(np.abs(batched - np.stack([r["embedding"] for r in rows])).max())
    print("largest difference, padded batches of 16 vs one at a time: %.3g" % pad_diff)
    assert pad_diff < 1e-5

    hidden = []
    for i in HIDDEN_STATE_SENTENCES:
        features = model.preprocess([SENTENCES[i]])
        with torch.no_grad():
            hs = bert(input_ids=features["input_ids"], attention_mask=features["attention_mask"],
                      token_type_ids=features.get("token_type_ids"), output_hidden_states=True).hidden_states
        hidden.append((i, hs[0][0].numpy(), hs[1][0].numpy()))

    n_trunc = sum(r["truncated"] for r in rows)
    lines = ["{",
             '"model": "sentence-transformers/all-MiniLM-L6-v2",',
             '"written_by": "scripts/make_minilm_golden.py",',
             '"versions": %s,' % json.dumps(versions, sort_keys=True),
             '"max_seq_length": %d,' % MAX_SEQ_LENGTH,
             '"embedding_dim": 384,',
             '"sentences": [']
    for k, r in enumerate(rows):
        lines.append('{"text": %s, "truncated": %s,\n "input_ids": %s,\n "attention_mask": %s,\n "embedding": %s,\n'
                     ' "mean_pooled": %s}%s' % (
                         json.dumps(r["text"], ensure_ascii=False), "true" if r["truncated"] else "false",
                         json.dumps(r["ids"]), json.dumps(r["mask"]), floats(r["embedding"]), floats(r["mean"]),
                         "," if k + 1 < len(rows) else ""))
    lines.append("],")
    lines.append('"hidden_states": [')
    for k, (i, h0, h1) in enumerate(hidden):
        lines.append('{"sentence": %d, "tokens": %d,\n "after_embeddings_layernorm": [%s],\n "after_layer_0": [%s]}%s' % (
            i, h0.shape[0], ",\n  ".join(floats(row) for row in h0), ",\n  ".join(floats(row) for row in h1),
            "," if k + 1 < len(hidden) else ""))
    lines.append("]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    json.loads(text)  # well-formed
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print("%s: %d sentences (%d truncated at %d tokens), hidden states of %s, %d bytes" % (
        os.path.relpath(OUT, peers.ROOT), len(rows), n_trunc, MAX_SEQ_LENGTH,
        ", ".join("sentence %d (%d tokens)" % (i, h0.shape[0]) for i, h0, _ in hidden), len(text.encode())))


if __name__ == "__main__":
    main()
