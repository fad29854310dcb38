"""The audio track: GRID speech synthesised with espeak-ng (``speech``), log-mel and Griffin-Lim
(``melspec``), the offline recogniser (``asr``), the benchmark itself (``benchmark``) and the
intelligibility scoring of reconstructions (``evaluation``: WER, STOI)."""
