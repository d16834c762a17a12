// Upload: check the file here (a JPEG or PNG by its first bytes, not empty, within the ticket's maxBytes),
// ask for a ticket (createUpload), send the file straight to storage with progress, then completeUpload.

import { ApiError, graphql, sendToStorage } from './api.js';
import { errorBox, h, photoHref } from './dom.js';
import { formatBytes } from './format.js';
import { DESCRIPTION_MAX_CHARS, NAME_MAX_CHARS } from './limits.js';
import { COMPLETE_UPLOAD, CREATE_UPLOAD } from './operations.js';

/** The image type a file's first bytes show, whatever its name says: `image/jpeg`, `image/png` or null. */
async function sniffImageType(file) {
  const bytes = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.every((b, i) => bytes[i] === b)) return 'image/png';
  return null;
}

/** "Sunset at the pier" from "Sunset at the pier.jpg". */
function nameFromFile(fileName) {
  return fileName.replace(/\.[A-Za-z0-9]{1,5}$/, '');
}

/** Renders the upload page into `root`; returns its cleanup. */
export function renderUpload(root) {
  const abort = new AbortController();
  let nameEdited = false;
  let previewUrl = null;

  const fileInput = h('input', {
    type: 'file',
    name: 'file',
    accept: 'image/jpeg,image/png',
    class: 'visually-hidden',
    id: 'upload-file',
  });
  const preview = h('img', { class: 'preview', alt: '', hidden: true, onerror: () => (preview.hidden = true) });
  const dropLabel = h(
    'span',
    { class: 'drop-label' },
    h('strong', {}, 'Choose a photo'),
    ' or drop it here',
    h('br'),
    h('small', {}, 'JPEG or PNG'),
  );
  const drop = h('label', { class: 'drop', for: 'upload-file' }, preview, dropLabel);
  const nameInput = h('input', {
    type: 'text',
    name: 'name',
    maxlength: NAME_MAX_CHARS,
    placeholder: 'Defaults to the file name',
    oninput: () => (nameEdited = true),
  });
  const description = h('textarea', {
    name: 'description',
    rows: 3,
    maxlength: DESCRIPTION_MAX_CHARS,
    placeholder: 'Optional',
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Upload');
  const progress = h('progress', { max: 100, value: 0 });
  const progressText = h('span', { class: 'progress-text' });
  const progressRow = h('div', { class: 'progress-row', hidden: true }, progress, progressText);
  const messages = h('div', { class: 'messages' });

  function choose(file) {
    messages.replaceChildren();
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    preview.hidden = true;
    if (!file) return;
    if (!nameEdited) nameInput.value = nameFromFile(file.name);
    dropLabel.replaceChildren(
      h('strong', {}, file.name),
      h('br'),
      h('small', {}, `${formatBytes(file.size)} · choose another`),
    );
    if (file.type === 'image/jpeg' || file.type === 'image/png') {
      previewUrl = URL.createObjectURL(file);
      preview.src = previewUrl;
      preview.hidden = false;
    }
  }
  fileInput.addEventListener('change', () => choose(fileInput.files[0]));
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    if (event.dataTransfer.files.length) {
      fileInput.files = event.dataTransfer.files;
      choose(fileInput.files[0]);
    }
  });

  function showProgress(text, sent, total) {
    progressRow.hidden = false;
    if (total) progress.value = Math.round((sent / total) * 100);
    else progress.removeAttribute('value'); // indeterminate while the server checks
    progressText.textContent = text;
  }

  async function upload(event) {
    event.preventDefault();
    const file = fileInput.files[0];
    messages.replaceChildren();
    if (!file) return messages.append(errorBox(new Error('Choose a JPEG or PNG photo first.')));
    if (file.size === 0) return messages.append(errorBox(new Error(`“${file.name}” is empty.`)));
    const contentType = await sniffImageType(file);
    if (!contentType) {
      return messages.append(
        errorBox(new Error(`“${file.name}” is not a JPEG or PNG image. Only JPEG and PNG photos can be uploaded.`)),
      );
    }

    submit.disabled = true;
    fileInput.disabled = true;
    try {
      showProgress('Asking for an upload ticket…', 0, 0);
      const { createUpload: ticket } = await graphql(CREATE_UPLOAD, {
        input: {
          fileName: file.name,
          contentType,
          name: nameInput.value.trim() || null,
          description: description.value.trim() || null,
        },
      });
      if (file.size > ticket.maxBytes) {
        throw new ApiError(
          `“${file.name}” is too large: ${formatBytes(file.size)}; the largest photo accepted is ${formatBytes(ticket.maxBytes)}.`,
          'TOO_LARGE',
        );
      }
      await sendToStorage(ticket, file, {
        signal: abort.signal,
        onProgress: (sent, total) =>
          showProgress(
            `Uploading… ${Math.floor((sent / total) * 100)}% (${formatBytes(sent)} of ${formatBytes(total)})`,
            sent,
            total,
          ),
      });
      showProgress('Checking the photo…', 0, 0);
      const { completeUpload: photo } = await graphql(COMPLETE_UPLOAD, { uploadId: ticket.uploadId });
      showProgress('Done: 100%', 1, 1);
      form.reset();
      nameEdited = false;
      choose(null);
      dropLabel.replaceChildren(
        h('strong', {}, 'Choose another photo'),
        ' or drop it here',
        h('br'),
        h('small', {}, 'JPEG or PNG'),
      );
      messages.append(
        h(
          'div',
          { class: 'alert success', role: 'status' },
          h('span', {}, 'Uploaded “', photo.name, '”. '),
          h('a', { href: photoHref(photo.id), class: 'view-photo' }, 'View photo'),
          ' · ',
          h('a', { href: '#/' }, 'Gallery'),
        ),
      );
    } catch (error) {
      if (abort.signal.aborted) return;
      progressRow.hidden = true;
      messages.append(errorBox(error, 'Upload failed: '));
    } finally {
      submit.disabled = false;
      fileInput.disabled = false;
    }
  }

  const form = h(
    'form',
    { class: 'card upload', onsubmit: upload },
    h('h1', {}, 'Upload a photo'),
    fileInput,
    drop,
    h('label', { class: 'field' }, h('span', {}, 'Name'), nameInput),
    h('label', { class: 'field' }, h('span', {}, 'Description'), description),
    h('div', { class: 'actions' }, submit),
    progressRow,
    messages,
    h(
      'p',
      { class: 'hint' },
      'The file goes straight to storage with a presigned POST; photoshare then checks it and records the photo.',
    ),
  );
  root.append(form);
  return () => {
    abort.abort();
    if (previewUrl) URL.revokeObjectURL(previewUrl);
  };
}
