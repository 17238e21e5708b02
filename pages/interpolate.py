import streamlit as st

st.title("interpolate")
st.info("Coming soon.")
