import streamlit as st

st.title("scatter")
st.info("Coming soon.")
