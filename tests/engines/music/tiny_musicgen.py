"""A tiny random-weight MusicGen saved like the real one: config, weights, generation config, processor.

It has the real model's layout (T5 text encoder, EnCodec at 32 kHz with 640 samples a frame, i.e. 50
frames a second, a decoder over 4 codebooks) at a size that builds, saves and generates in well under
a second on a CPU, so the backend's real `from_pretrained(folder)` path can be tested offline.
"""

from __future__ import annotations

from pathlib import Path

RATE_HZ = 32_000
# EnCodec hop: the product of the upsampling ratios (8*5*4*4 = 640 samples, 50 frames a second).
HOP = 640
FRAME_RATE_HZ = RATE_HZ // HOP
NUM_CODEBOOKS = 4
CODEBOOK_SIZE = 64
# The decoder's start/pad token: one past the last code.
SPECIAL_TOKEN = CODEBOOK_SIZE
# Word pieces of the tokenizer (SentencePiece style: "▁" marks a word start).
WORDS = ("lofi", "hip", "hop", "calm", "piano", "beat", "epic", "orchestral", "drums", "guitar", "with", "and",
         "a", "slow", "fast", "happy", "sad", "song")


def build_tiny_musicgen(folder: Path, seed: int = 0) -> Path:
    """Build, save and return `folder` holding a random MusicGen loadable with from_pretrained."""
    import torch
    from transformers import (
        AutoProcessor,
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
        T5Config,
        T5Tokenizer,
    )

    text = T5Config(vocab_size=128, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2)
    codec = EncodecConfig(sampling_rate=RATE_HZ, codebook_size=CODEBOOK_SIZE, hidden_size=16, num_filters=4,
                          num_residual_layers=1, num_lstm_layers=1, upsampling_ratios=[8, 5, 4, 4],
                          target_bandwidths=[1.2])
    # 1.2 kbps at 50 frames a second with 6-bit codes is exactly 4 codebooks, as the decoder expects.
    decoder = MusicgenDecoderConfig(vocab_size=CODEBOOK_SIZE, max_position_embeddings=2048, num_hidden_layers=1,
                                    ffn_dim=32, num_attention_heads=2, hidden_size=16, num_codebooks=NUM_CODEBOOKS,
                                    pad_token_id=SPECIAL_TOKEN, bos_token_id=SPECIAL_TOKEN, dropout=0.0)
    config = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=codec.to_dict(), decoder=decoder.to_dict())
    torch.manual_seed(seed)
    model = MusicgenForConditionalGeneration(config).eval()
    with torch.no_grad():
        # EnCodec starts with all-zero codebooks, so every code would decode alike; random codebooks
        # make the waveform depend on the generated tokens (seeds and prompts then show in the audio).
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    gen = model.generation_config
    gen.decoder_start_token_id = gen.pad_token_id = gen.bos_token_id = SPECIAL_TOKEN
    gen.do_sample, gen.guidance_scale, gen.max_length = True, 3.0, 1500
    model.save_pretrained(folder)

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(f"▁{w}", -1.0 - i * 0.01) for i, w in enumerate(WORDS)]
    vocab += [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz"] + [("▁", -6.0)]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0)
    extractor = EncodecFeatureExtractor(feature_size=1, sampling_rate=RATE_HZ, padding_value=0.0)
    MusicgenProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    AutoProcessor.from_pretrained(folder)  # fail here, not in the test, if the processor does not reload
    return folder
