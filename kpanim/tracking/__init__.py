"""Tracking from images and video: landmarks, shoulders, frames, portraits and the subject."""
