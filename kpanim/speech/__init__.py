"""Speech in: audio files, the audio front-ends (Whisper layers, mel, phones), the speech check, TTS for fixtures."""
