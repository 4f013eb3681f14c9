"""What every layer shares: error types, progress and cancellation, audio, the media probe and image loading.

Tabs, workflows, engines and storage may all import `core`; `core` imports nothing else of the project.
"""
