import { escape, truncate } from 'lodash';

export function sanitizedTitle(title, purifier) {
  return truncate(escape(purifier.sanitize(title || 'GitLab')), { length: 64 });
}
