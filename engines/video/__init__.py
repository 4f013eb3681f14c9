"""Video: photos, scenes, visualisers and captions -> H.264/AAC MP4. Importing this is cheap."""
