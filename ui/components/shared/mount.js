// One view object per component element, kept across reruns (Streamlit calls the component's function on each):
// `View` is constructed with the element the first time, then given each rerun's data; unmounting destroys it.
const VIEWS = new WeakMap(); // parentElement -> view

function mountView(View, component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  let view = VIEWS.get(parentElement);
  if (!view) {
    view = new View(parentElement);
    VIEWS.set(parentElement, view);
  }
  view.update(data, { setStateValue, setTriggerValue });
  return () => {
    view.destroy();
    VIEWS.delete(parentElement);
  };
}
