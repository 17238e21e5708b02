"""Browser components (Streamlit Components v2), one folder per idea, each with its assets beside its wrapper.

latent_canvas  sliders and a 2-D pad editing one latent code, decoded in the browser (onnxruntime-web)
"""
