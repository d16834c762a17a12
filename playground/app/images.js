// Photo images. `Photo.url` is a short-lived presigned link: when one has expired (the page stayed open a
// long time), ask the API for a fresh link once.

import { graphql } from './api.js';
import { h } from './dom.js';
import { PHOTO_URL } from './operations.js';

/** An `<img>` of a photo that renews its link once if loading fails. */
export function photoImage(photo, props = {}) {
  let renewed = false;
  const image = h('img', { src: photo.url, alt: photo.name, decoding: 'async', ...props });
  image.addEventListener('error', async () => {
    if (renewed) return;
    renewed = true;
    try {
      const { photo: fresh } = await graphql(PHOTO_URL, { id: photo.id });
      if (fresh?.url && fresh.url !== image.src) image.src = fresh.url;
    } catch {
      // The broken-image state is the best we can show.
    }
  });
  return image;
}
