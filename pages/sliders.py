import streamlit as st

st.title("sliders")
st.info("Coming soon.")
