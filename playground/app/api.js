// Talking to photoshare: GraphQL over HTTP (POST /graphql, with this browser's owner key) and the direct
// upload to storage (a presigned POST, sent with XMLHttpRequest because fetch cannot report upload progress).

import { authorization } from './owner.js';

/** An error to show: the message, and the API's `extensions.code` (or our own code for transport errors). */
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
  }
}

/** Runs a query or mutation; resolves to `data`, rejects with an ApiError (the first GraphQL error). */
export async function graphql(query, variables = {}) {
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        authorization: authorization(),
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError('Could not reach the photoshare server. Check the connection and try again.', 'NETWORK');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} without a GraphQL response.`, `HTTP_${response.status}`);
  }
  const error = body.errors?.[0];
  if (error) throw new ApiError(error.message, error.extensions?.code ?? 'GRAPHQL_ERROR');
  if (!body.data) throw new ApiError('The server answered without data.', 'GRAPHQL_ERROR');
  return body.data;
}

/**
 * Sends `file` to storage as the ticket says: `multipart/form-data` with every ticket field in order, then
 * the file as `file`. `onProgress(sentBytes, totalBytes)` follows the upload. Storage answers 204; a 4xx
 * carries an S3 XML error, surfaced as ApiError with the storage's code (e.g. `EntityTooLarge`).
 */
export function sendToStorage(ticket, file, { onProgress, signal } = {}) {
  const form = new FormData();
  for (const { name, value } of ticket.fields) form.append(name, value);
  form.append('file', file, file.name);

  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', ticket.url);
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress?.(event.loaded, event.total);
    });
    request.addEventListener('load', () => {
      if (request.status >= 200 && request.status < 300) resolve();
      else reject(storageError(request.status, request.responseText));
    });
    request.addEventListener('error', () =>
      reject(
        new ApiError(
          'Could not send the file to storage: the network failed, or storage does not allow uploads from ' +
            'this page (CORS).',
          'STORAGE_UNREACHABLE',
        ),
      ),
    );
    request.addEventListener('abort', () => reject(new ApiError('Upload cancelled.', 'CANCELLED')));
    signal?.addEventListener('abort', () => request.abort(), { once: true });
    request.send(form);
  });
}

/** Reads `<Error><Code>…</Code><Message>…</Message></Error>` from storage's answer. */
function storageError(status, text) {
  let code = null;
  let message = null;
  try {
    const xml = new DOMParser().parseFromString(text, 'application/xml');
    code = xml.querySelector('Error > Code')?.textContent?.trim() || null;
    message = xml.querySelector('Error > Message')?.textContent?.trim() || null;
  } catch {
    // Not XML: the status alone says enough.
  }
  const why = message ?? `it answered HTTP ${status}`;
  return new ApiError(`Storage refused the file: ${why}`, code ?? `STORAGE_${status}`);
}
