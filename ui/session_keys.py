"""Every key of Streamlit's session state that is not a widget's: what each holds, and the one spelling that
ui/, pages/, the tests and the benchmarks use. Widget keys (`key="train_epochs"`) name their widget and stay
beside it; a widget key read elsewhere has a constant of its owner (ui.picker.PICKER_KEY).

Keys that a component derives from its own widget key (latent_canvas's "<key>_sent_model", replay_view's
"<key>_gif_of") stay in that component's module. What pages keep for the tests and benchmarks to read is marked so.
"""

# The app's own (ui/state.py, ui/jobs.py, ui/workspace.py, ui/picker.py).
MODEL = "model"  # ui.state.CurrentModel: THE current model
TRAIN_JOB = "train_job"  # WorkerTrainingJob: this session's run; outlives page switches and reruns
OWNER = "app_owner"  # str: this visitor's owner token (ui.workspace)
FLASH = "app_flash"  # (kind, text): a message for the next run, e.g. after a callback or a rerun
PICKER_REFUSED = "app_refused"  # str: why the sidebar picker refused a file, shown on the next draw

# Kept between pages (they survive leaving the page that sets them).
SCATTER_SELECTION = "scatter_selection"  # (split, list[int]): the scatter's selection as indices of its split
SCATTER_PROJECTION = "scatter_projection"  # str: the projection the scatter page last drew
SCATTER_DIMS = "scatter_dims"  # (int, int): the latent dimensions its direct view shows
SLIDERS_CODE = "sliders_code"  # (checkpoint sha256, z (D,), class or None): the Latent sliders page's code, as released
SELECTION_GROUP_B = "selection_group_b"  # (split, list[int]): a selection kept on the scatter as group B
SELECTION_SENT = "selection_sent"  # str: the page the scatter's selection was just sent to (it opens on it, once)

# Latent scatter page.
SCATTER_OWNER = "scatter_owner"  # (checkpoint sha256, split): whose selection SCATTER_SELECTION is
SCATTER_SEEN = "scatter_seen"  # the sequence number of the browser's last selection taken
SCATTER_SPLIT_KEPT = "scatter_split_kept"  # str: the split last shown, kept when the page is left
SCATTER_MAP_SHOWN = "scatter_map_shown"  # (checkpoint sha256, split, params, Projection): the map it last drew
SCATTER_PARAMS = "scatter_params_{method}"  # ProjectionParams: t-SNE's / UMAP's, as Compute was last pressed
SCATTER_ZOOM = "scatter_zoom"  # (view id, {"cx", "cy", "k"}): where the inspector's view last rested

# Train page.
TRAIN_OFFERED = "train_offered"  # str: the folder of an archive just extracted, chosen on the next run

# Latent sliders page.
SLIDERS_Z = "sliders_z"  # np.ndarray (D,): the current code, the canvas's on release, else the server sliders'
SLIDERS_START = "sliders_start"  # (checkpoint sha256, start choice): what the code last started from
SLIDERS_START_Z = "sliders_start_z"  # np.ndarray (D,): where the code starts
SLIDERS_START_ID = "sliders_start_id"  # int: changes on every restart (the canvas then moves to the start)
SLIDERS_IMAGE = "sliders_image"  # np.ndarray (C, H, W) in [0, 1]: the server sliders' last image (read by tests)
SLIDERS_MS = "sliders_ms"  # float: server ms from a slider's rerun to its image (read by benchmarks)
SLIDERS_CLASS_ROW = "sliders_class_row"  # np.ndarray (K, C, H, W): the code decoded as every class (read by tests)
SLIDERS_PAD_VIEW = "sliders_pad_view"  # (checkpoint sha256, the canvas's data.view): the pad's plane and view

# Interpolation page (read by tests).
INTERPOLATE_PATHS = "interpolate_paths"  # {"linear", "spherical"}: the codes (steps, D) it decodes and draws
INTERPOLATE_DIAGNOSTICS = "interpolate_diagnostics"  # the same keys to each path's PathDiagnostics
INTERPOLATE_LINKED = "interpolate_linked"  # (checkpoint sha256, [z0, z1]): a link's endpoint codes

# Prior and holes page (read by tests).
PRIOR_HOLES = "prior_holes"  # {"holes", "typical", "densest"}: the prior codes (k, D) it decodes

# Directions page (read by tests).
DIRECTIONS_WALK = "directions_walk"  # {"amounts" (T,), "codes" (T, D) of the strip, "current" (D,) at the slider}
DIRECTIONS_ARITHMETIC = "directions_arithmetic"  # {"a", "b", "c", "result"}: codes (D,)

# Links (ui/links.py).
LINK_APPLIED = "link_applied"  # (model name, sha prefix): the link this session has applied (once per link)
LINK_VIEW = "link_view"  # {"sha", and view params not yet taken}: a found link model's view, taken once per param
